// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture for depmod's .modinfo handling. Never loaded.
 * - aliases with '-' (normalised to '_' in the index, kept in the text),
 *   with a [...] class (no normalisation inside), an unmatched '[' and an
 *   unmatched ']' (both skipped with a warning), a duplicate (-w);
 * - devname + char-major (one modules.devname line), a second
 *   char-major after both are known (ignored);
 * - softdeps with pre: and post:, and a weakdep (ignored by kmod 30);
 * - an export used by kmodimg-dash.
 */
#include <linux/module.h>

int kmodimg_info_value(void)
{
	return 42;
}
EXPORT_SYMBOL_GPL(kmodimg_info_value);

MODULE_ALIAS("kmodimg-info-alias");
MODULE_ALIAS("pci:v0000ABCDd*sv*sd*bc[0-9a-f]sc-*i*");
MODULE_ALIAS("bad-bracket[abc");
MODULE_ALIAS("bad-close]x");
MODULE_ALIAS("kmodimg-info-alias");
MODULE_ALIAS("devname:kmodimg/info");
MODULE_ALIAS("char-major-250-7");
MODULE_ALIAS("char-major-251-8");
MODULE_SOFTDEP("pre: fat post: kmodimg-dash");
MODULE_INFO(weakdep, "vfat");
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodimg test fixture: modinfo edge cases");
