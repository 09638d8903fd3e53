#!/bin/bash
# --index-order=post|pre on the full Debian tree (ours only: kmod 30
# writes post-order; pre-order is kmod >= 34's layout).
#   - the default and --index-order=post are byte-identical to kmod's;
#   - pre: text files byte-identical to post; each .bin has the same size
#     and the same decoded key/priority/value list (dumpidx) as post, its
#     root at offset 12, and its nodes laid out in depth-first pre-order
#     (each node, then its children in ascending character order, every
#     node starting where the previous one ended);
#   - libkmod reads the pre-order index: modprobe --show-depends gives
#     the same as with kmod's index.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
kmi_setup

base=$KMI_TMP/base
moddir=$base/lib/modules/$KVER
step "extract linux-image-$KVER"
kmi_extract_tree "$base"

step "kmod, ours (default), ours --index-order=post"
kmi_depmod_pair default "$moddir" -b "$base" "$KVER"
kmi_expect_same default
kmi_run post our_depmod --index-order=post -b "$base" "$KVER"
((KMI_RC == 0)) || fail "--index-order=post exited $KMI_RC: $(head -3 "$KMI_TMP/post.err")"
kmi_move_outputs "$moddir" "$KMI_TMP/post"
if kmi_compare_outputs "$KMI_TMP/default/kmod" "$KMI_TMP/post"; then
	ok "--index-order=post: byte-identical to kmod's"
else
	fail_later "--index-order=post differs from kmod's"
fi

step "ours --index-order=pre"
before=$(kmi_ls "$moddir")
kmi_run pre our_depmod --index-order=pre -b "$base" "$KVER"
((KMI_RC == 0)) || fail "--index-order=pre exited $KMI_RC: $(head -3 "$KMI_TMP/pre.err")"
kmi_check_created "kmodimg depmod --index-order=pre" "$before" "$moddir"
kmi_move_outputs "$moddir" "$KMI_TMP/pre"

post=$KMI_TMP/default/kmod
for f in "${KMI_OUTPUTS[@]}"; do
	[[ -f $KMI_TMP/pre/$f ]] || { fail_later "pre: $f missing"; continue; }
	if [[ $f != *.bin ]]; then
		cmp -s "$post/$f" "$KMI_TMP/pre/$f" || fail_later "pre: text file $f differs from post"
		continue
	fi
	sp=$(stat -c %s "$post/$f")
	sr=$(stat -c %s "$KMI_TMP/pre/$f")
	[[ $sp == "$sr" ]] || fail_later "pre: $f is $sr bytes, post $sp"
	if ! diff -q <(kmi_dump "$post/$f") <(kmi_dump "$KMI_TMP/pre/$f") >/dev/null; then
		fail_later "pre: $f decodes differently from post"
		diff -u --label post --label pre <(kmi_dump "$post/$f") <(kmi_dump "$KMI_TMP/pre/$f") | head -40 || true
		continue
	fi
	stats=$(kmi_dump "$KMI_TMP/pre/$f" --stats)
	[[ $stats == *" root_off=12 "* ]] || fail_later "pre: $f root not at offset 12: $stats"
	pstats=$(kmi_dump "$post/$f" --stats)
	[[ $pstats == *"root_is_last=yes"* ]] || fail "oracle: kmod's $f root is not last: $pstats"
	# Depth-first pre-order, contiguous: walk the trie the way kmod HEAD
	# writes it and require each node to start where the last one ended.
	if layout=$(python3 - "$KMI_TMP/pre/$f" <<'EOF'
import struct, sys
b = open(sys.argv[1], 'rb').read()
MASK = 0x0FFFFFFF
def node(word):
    p = word & MASK
    if word & 0x80000000:
        p = b.index(b'\0', p) + 1
    kids = []
    if word & 0x20000000:
        first, last = b[p], b[p + 1]
        p += 2
        for i in range(last - first + 1):
            (c,) = struct.unpack_from('>I', b, p)
            p += 4
            if c & MASK:
                kids.append(c)
    if word & 0x40000000:
        (n,) = struct.unpack_from('>I', b, p)
        p += 4
        for _ in range(n):
            p = b.index(b'\0', p + 4) + 1
    return p, kids
(root,) = struct.unpack_from('>I', b, 8)
expect = 12
stack = [root]
while stack:
    w = stack.pop()
    if w & MASK != expect:
        sys.exit('node at %d, expected %d' % (w & MASK, expect))
    expect, kids = node(w)
    stack.extend(reversed(kids))
if expect != len(b):
    sys.exit('nodes end at %d, file is %d bytes' % (expect, len(b)))
print('pre-order ok')
EOF
	); then
		ok "pre: $f same size and content as post, root at 12, $layout"
	else
		fail_later "pre: $f is not laid out in depth-first pre-order"
	fi
done

step "modprobe reads the pre-order index"
mkdir -p "$KMI_TMP/mp/kmod" "$KMI_TMP/mp/ours"
cp "$KMI_TMP/default/kmod"/* "$KMI_TMP/mp/kmod/"
cp "$KMI_TMP/pre"/* "$KMI_TMP/mp/ours/"
kmi_modprobe_same mp "$base" vfat
kmi_modprobe_same mp "$base" fs-vfat
kmi_modprobe_same mp "$base" udf

pass
