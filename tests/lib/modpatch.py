#!/usr/bin/env python3
"""Byte patches on kernel modules for tests (ELF64 little-endian only).

  modpatch.py crc FILE SYMBOL         flip the CRC of SYMBOL's __versions record
  modpatch.py vermagic FILE OLD NEW   replace OLD in the vermagic (NEW no longer;
                                      padded with NULs)
  modpatch.py unsign FILE             drop an appended signature
  modpatch.py flip FILE               flip one byte inside .text (content change)
  modpatch.py modinfo FILE KEY= NEW   replace the .modinfo entry starting with KEY=
                                      by NEW (no longer; padded with NULs)
  modpatch.py machine FILE N          set e_machine to N
"""
import struct
import sys

MAGIC = b"~Module signature appended~\n"


def sections(data):
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    hdrs = []
    for i in range(shnum):
        name, typ, flags, addr, off, size = struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
        hdrs.append((name, off, size))
    stroff = hdrs[shstrndx][1]
    out = {}
    for name, off, size in hdrs:
        end = data.index(b"\0", stroff + name)
        out[data[stroff + name:end].decode()] = (off, size)
    return out


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    data = bytearray(open(path, "rb").read())
    if data[:4] != b"\x7fELF":
        sys.exit(f"{path}: not ELF")
    secs = sections(data)
    if cmd == "crc":
        sym = sys.argv[3].encode()
        off, size = secs["__versions"]
        for rec in range(off, off + size, 64):
            if data[rec + 8:rec + 8 + len(sym) + 1] == sym + b"\0":
                crc, = struct.unpack_from("<Q", data, rec)
                struct.pack_into("<Q", data, rec, crc ^ 0x5A5A5A5A)
                break
        else:
            sys.exit(f"{path}: no __versions record for {sys.argv[3]}")
    elif cmd == "vermagic":
        old, new = sys.argv[3].encode(), sys.argv[4].encode()
        off, size = secs[".modinfo"]
        i = data.index(b"vermagic=", off, off + size)
        end = data.index(b"\0", i)
        vm = bytes(data[i:end])
        if old not in vm:
            sys.exit(f"{path}: {sys.argv[3]!r} not in {vm!r}")
        nv = vm.replace(old, new, 1)
        if len(nv) > len(vm):
            sys.exit("new vermagic is longer")
        data[i:end] = nv + b"\0" * (len(vm) - len(nv))
    elif cmd == "unsign":
        if data.endswith(MAGIC):
            sig_len, = struct.unpack_from(">I", data, len(data) - len(MAGIC) - 4)
            del data[len(data) - len(MAGIC) - 12 - sig_len:]
    elif cmd == "flip":
        off, size = secs[".text"] if ".text" in secs else secs[".modinfo"]
        data[off] ^= 0xFF
    elif cmd == "modinfo":
        key, new = sys.argv[3].encode(), sys.argv[4].encode()
        off, size = secs[".modinfo"]
        i = off
        while i < off + size:
            end = data.index(b"\0", i)
            if data[i:end].startswith(key):
                if len(new) > end - i:
                    sys.exit("new entry is longer")
                data[i:end] = new + b"\0" * (end - i - len(new))
                break
            i = end + 1
        else:
            sys.exit(f"{path}: no .modinfo entry {sys.argv[3]}")
    elif cmd == "machine":
        struct.pack_into("<H", data, 18, int(sys.argv[3]))
    else:
        sys.exit(__doc__)
    open(path, "wb").write(data)


main()
