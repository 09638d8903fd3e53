// SPDX-License-Identifier: GPL-2.0
/* Test fixture: exports x, imports y from kmodimg_cyc_b (a cycle). */
#include <linux/module.h>

int kmodimg_cyc_y(int v);

int kmodimg_cyc_x(int v)
{
	return v > 0 ? kmodimg_cyc_y(v - 1) : 0;
}
EXPORT_SYMBOL(kmodimg_cyc_x);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodimg test fixture: half of a dependency cycle");
