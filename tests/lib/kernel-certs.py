#!/usr/bin/env python3
"""kernel-certs.py VMLINUZ OUTDIR: the X.509 certificates built into a
kernel (its .builtin_trusted_keys: the module signing key among them), as
DER files OUTDIR/cert-N.der.  The bzImage payload is decompressed (xz,
gzip or zstd via the zstd tool) and scanned for DER certificates whose
issuer names a kernel key; each candidate is checked by openssl."""
import gzip
import lzma
import os
import subprocess
import sys

vmlinuz, outdir = sys.argv[1:3]
data = open(vmlinuz, "rb").read()


def payload():
    i = data.find(b"\xfd7zXZ\x00")
    if i >= 0:
        return lzma.LZMADecompressor().decompress(data[i:])
    i = data.find(b"\x1f\x8b\x08")
    if i >= 0:
        return gzip.GzipFile(fileobj=__import__("io").BytesIO(data[i:])).read()
    i = data.find(b"\x28\xb5\x2f\xfd")
    if i >= 0:
        return subprocess.run(["zstd", "-dc"], input=data[i:], capture_output=True).stdout
    sys.exit("no known compression in " + vmlinuz)


vmlinux = payload()
os.makedirs(outdir, exist_ok=True)
n = 0
seen = set()
pos = 0
while True:
    pos = vmlinux.find(b"\x30\x82", pos)
    if pos < 0:
        break
    length = int.from_bytes(vmlinux[pos + 2:pos + 4], "big") + 4
    # a certificate: SEQUENCE { SEQUENCE (tbs) ..., with a kernel key name inside
    if 300 < length < 4096 and vmlinux[pos + 4:pos + 6] == b"\x30\x82":
        der = vmlinux[pos:pos + length]
        if (b"kernel key" in der or b"Kernel" in der) and der not in seen:
            r = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"],
                               input=der, capture_output=True)
            if r.returncode == 0:
                seen.add(der)
                open(os.path.join(outdir, f"cert-{n}.der"), "wb").write(der)
                print(f"cert-{n}.der {r.stdout.decode().strip()}")
                n += 1
                pos += length
                continue
    pos += 2
if n == 0:
    sys.exit("no built-in certificate found")
