// SPDX-License-Identifier: GPL-2.0
/* Test fixture: uses kmodimg_cyc_a, is not part of the cycle itself. */
#include <linux/module.h>

int kmodimg_cyc_x(int v);

static int __init cyc_c_init(void)
{
	return kmodimg_cyc_x(0);
}
module_init(cyc_c_init);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodimg test fixture: depends on a cycle");
