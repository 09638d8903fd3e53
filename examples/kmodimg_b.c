// SPDX-License-Identifier: GPL-2.0
/*
 * kmodimg_b: calls kmodimg_a_add(), so depmod records
 * "extra/kmodimg_b.ko: extra/kmodimg_a.ko".
 */
#include <linux/init.h>
#include <linux/module.h>

#include "kmodimg_a.h"

static int __init kmodimg_b_init(void)
{
	pr_info("kmodimg_b: loaded, kmodimg_a_add(2,3)=%d\n", kmodimg_a_add(2, 3));
	return 0;
}

static void __exit kmodimg_b_exit(void)
{
	pr_info("kmodimg_b: unloaded\n");
}

module_init(kmodimg_b_init);
module_exit(kmodimg_b_exit);

MODULE_DESCRIPTION("kmodimg example: uses kmodimg_a_add()");
MODULE_LICENSE("GPL");
