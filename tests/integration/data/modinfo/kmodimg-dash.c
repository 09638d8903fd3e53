// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture: a module file name with '-' (module name kmodimg_dash),
 * a devname alias without a major/minor (kmod prints an error and writes
 * no modules.devname line), a block-major alias, and a use of
 * kmodimg_info's export.
 */
#include <linux/module.h>

int kmodimg_info_value(void);

static int __init dash_init(void)
{
	return kmodimg_info_value() == 42 ? 0 : -EINVAL;
}
module_init(dash_init);

MODULE_ALIAS("devname:kmodimg-nomajor");
MODULE_ALIAS("block-major-259-*");
MODULE_ALIAS("kmodimg-dash-alias");
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodimg test fixture: hyphenated module name");
