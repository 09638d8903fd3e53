// SPDX-License-Identifier: GPL-2.0
/*
 * kmodimg_c: depends on an in-tree module and loads firmware, to prove
 * both paths in a real kernel (tests/integration/worker-qemu.sh):
 *  - crc8() comes from Debian's crc8.ko (CONFIG_CRC8=m, no dependencies of
 *    its own), so depmod can only resolve it through the image's `host`
 *    link into the node's module tree;
 *  - at load time it requests the firmware file kmodimg/hello.txt (shipped
 *    in the image by `kmodimg build --firmware`) and prints its first line
 *    and its CRC-8 to the kernel log. A missing file fails the load, so the
 *    module being live proves the firmware search path found the file.
 */
#include <linux/crc8.h>
#include <linux/firmware.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/platform_device.h>

#define KMODIMG_C_FW "kmodimg/hello.txt"

/* The polynomial of CRC-8/ATM (x^8 + x^2 + x + 1), MSB first. */
#define KMODIMG_C_POLY 0x07

static char *fw_name = KMODIMG_C_FW;
module_param(fw_name, charp, 0444);
MODULE_PARM_DESC(fw_name, "Firmware file to request (default " KMODIMG_C_FW ")");

DECLARE_CRC8_TABLE(kmodimg_c_table);

/* request_firmware() wants a device to name in its messages. */
static struct platform_device *kmodimg_c_pdev;

/* Print the firmware's first line (bounded, printable) and its CRC-8. */
static void kmodimg_c_show(const struct firmware *fw)
{
	size_t len = 0;
	u8 crc;

	while (len < fw->size && len < 64 && fw->data[len] != '\n')
		len++;
	crc = crc8(kmodimg_c_table, fw->data, fw->size, CRC8_INIT_VALUE);
	pr_info("kmodimg_c: firmware %s: %zu bytes, crc8 0x%02x, says \"%.*s\"\n",
		fw_name, fw->size, crc, (int)len, fw->data);
}

static int __init kmodimg_c_init(void)
{
	const struct firmware *fw;
	int err;

	crc8_populate_msb(kmodimg_c_table, KMODIMG_C_POLY);
	kmodimg_c_pdev = platform_device_register_simple("kmodimg_c", -1, NULL, 0);
	if (IS_ERR(kmodimg_c_pdev))
		return PTR_ERR(kmodimg_c_pdev);
	err = request_firmware(&fw, fw_name, &kmodimg_c_pdev->dev);
	if (err) {
		pr_err("kmodimg_c: firmware %s not found (%d)\n", fw_name, err);
		platform_device_unregister(kmodimg_c_pdev);
		return err;
	}
	kmodimg_c_show(fw);
	release_firmware(fw);
	pr_info("kmodimg_c: loaded\n");
	return 0;
}

static void __exit kmodimg_c_exit(void)
{
	platform_device_unregister(kmodimg_c_pdev);
	pr_info("kmodimg_c: unloaded\n");
}

module_init(kmodimg_c_init);
module_exit(kmodimg_c_exit);

MODULE_FIRMWARE(KMODIMG_C_FW);
MODULE_DESCRIPTION("kmodimg example: uses the in-tree crc8 module and loads firmware");
MODULE_LICENSE("GPL");
