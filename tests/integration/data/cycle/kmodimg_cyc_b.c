// SPDX-License-Identifier: GPL-2.0
/* Test fixture: exports y, imports x from kmodimg_cyc_a (a cycle). */
#include <linux/module.h>

int kmodimg_cyc_x(int v);

int kmodimg_cyc_y(int v)
{
	return v > 0 ? kmodimg_cyc_x(v - 1) : 1;
}
EXPORT_SYMBOL(kmodimg_cyc_y);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodimg test fixture: half of a dependency cycle");
