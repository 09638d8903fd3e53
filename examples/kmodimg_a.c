// SPDX-License-Identifier: GPL-2.0
/*
 * kmodimg_a: exports kmodimg_a_add() for kmodimg_b. Used by scripts/demo.sh
 * to show a module dependency in modules.dep.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

#include "kmodimg_a.h"

static int base;
module_param(base, int, 0444);
MODULE_PARM_DESC(base, "Added to every kmodimg_a_add() result (default 0)");

int kmodimg_a_add(int a, int b)
{
	return base + a + b;
}
EXPORT_SYMBOL(kmodimg_a_add);

static int __init kmodimg_a_init(void)
{
	pr_info("kmodimg_a: loaded, base=%d\n", base);
	return 0;
}

static void __exit kmodimg_a_exit(void)
{
	pr_info("kmodimg_a: unloaded\n");
}

module_init(kmodimg_a_init);
module_exit(kmodimg_a_exit);

MODULE_ALIAS("kmodimg-example");
MODULE_DESCRIPTION("kmodimg example: exports kmodimg_a_add()");
MODULE_LICENSE("GPL");
