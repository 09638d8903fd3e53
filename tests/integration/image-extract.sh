#!/bin/bash
# kmodimg extract against umoci unpack of the same layouts: the same entries,
# types, modes, contents and symlink targets (umoci's own metadata lives
# beside rootfs/ and is not compared). Images: a kmodimg build of the
# examples with the host link and firmware (gzip, then zstd); KMM's legacy
# archive (a file, a hardlink to it, relative and absolute symlinks, nested
# dirs) as GNU tar writes it; whiteouts over two layers. Then the
# destination rules, hostile layers refused with the entry named and nothing
# left behind, exit codes, and a registry source when one can be started.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

kmi_setup
kmi_need_cmds umoci jq sha256sum gzip python3
ex=$KMI_TMP/ex
kmi_build_examples "$ex"

# Everything below a root, one line per entry (type, mode, path, link
# target), then the sha256 of every regular file; hardlinks as inode groups.
tree_of() {
	(
		cd "$1"
		find . -mindepth 1 -printf '%y %m %p %l\n' | sort
		find . -type f -print0 | sort -z | xargs -0r sha256sum
		find . -type f -links +1 -printf '%i %p\n' | sort -n |
			awk '{ if ($1 != prev) printf "\n"; printf "%s ", $2; prev = $1 } END { print "" }' |
			sed '/^$/d' | sort
	)
}

# same_as_umoci LAYOUT TAG NAME: extract with both, compare the trees.
same_as_umoci() {
	local layout=$1 tag=$2 name=$3
	kmi_run "$name" "$KMODIMG" extract "oci:$layout:$tag" "$KMI_TMP/$name.ours"
	if ((KMI_RC != 0)); then
		fail_later "$name: extract exited $KMI_RC: $(cat "$KMI_TMP/$name.err")"
		return 0
	fi
	(cd "$(dirname "$layout")" && umoci unpack --image "$(basename "$layout"):$tag" "$KMI_TMP/$name.umoci" \
		>/dev/null) || fail "$name: umoci cannot unpack the layout"
	tree_of "$KMI_TMP/$name.ours" >"$KMI_TMP/$name.ours.tree"
	tree_of "$KMI_TMP/$name.umoci/rootfs" >"$KMI_TMP/$name.umoci.tree"
	if ! diff -u "$KMI_TMP/$name.umoci.tree" "$KMI_TMP/$name.ours.tree" >"$KMI_TMP/$name.diff"; then
		fail_later "$name: our tree differs from umoci's:"
		head -40 "$KMI_TMP/$name.diff"
	fi
}

# mk_layout DIR TAG TAR...: an OCI layout holding one image whose layers are
# the given tars (gzip'ed), written by hand so any tar, hostile ones too,
# can be a layer.
mk_layout() {
	python3 - "$@" <<'EOF'
import gzip, hashlib, json, os, sys
d, tag, tars = sys.argv[1], sys.argv[2], sys.argv[3:]
os.makedirs(f"{d}/blobs/sha256", exist_ok=True)
def put(data):
    h = hashlib.sha256(data).hexdigest()
    with open(f"{d}/blobs/sha256/{h}", "wb") as f:
        f.write(data)
    return "sha256:" + h, len(data)
layers, diff_ids = [], []
for t in tars:
    raw = open(t, "rb").read()
    diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
    dg, n = put(gzip.compress(raw, mtime=0))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": dg, "size": n})
config = {"architecture": "amd64", "os": "linux", "config": {},
          "rootfs": {"type": "layers", "diff_ids": diff_ids}}
cd, cn = put(json.dumps(config).encode())
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
            "layers": layers}
md, mn = put(json.dumps(manifest).encode())
json.dump({"imageLayoutVersion": "1.0.0"}, open(f"{d}/oci-layout", "w"))
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
           "digest": md, "size": mn, "annotations": {"org.opencontainers.image.ref.name": tag}}]},
          open(f"{d}/index.json", "w"))
EOF
}

# hostile_tar FILE SPEC...: a tar from specs "TYPE:NAME[:ARG]" (f file with
# ARG as content, d dir, l symlink to ARG, h hardlink to ARG, c chardev).
hostile_tar() {
	python3 - "$@" <<'EOF'
import io, sys, tarfile
out, specs = sys.argv[1], sys.argv[2:]
types = {"f": tarfile.REGTYPE, "d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE,
         "h": tarfile.LNKTYPE, "c": tarfile.CHRTYPE}
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    for s in specs:
        kind, name, arg = (s.split(":", 2) + [""])[:3]
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.mtime = types[kind], 0o755 if kind == "d" else 0o644, 0
        data = arg.encode() if kind == "f" else b""
        ti.size = len(data)
        if kind in "lh":
            ti.linkname = arg
        t.addfile(ti, io.BytesIO(data))
EOF
}

# ---------------------------------------------------------------- kmodimg images

step "a kmodimg build of the examples: host link, firmware, subdir (gzip vs umoci, zstd vs gzip)"
kmi_extract_modules "$KMI_TMP/tree" vfat fat
vfat=$(find "$KMI_TMP/tree" -name vfat.ko)
mkdir -p "$KMI_TMP/fw/acme"
echo firmware >"$KMI_TMP/fw/acme/blob.bin"
for comp in gzip zstd; do
	"$KMODIMG" build --quiet --kernel "$KVER" --compression "$comp" --in-tree-link host \
		--kernel-tree "$KMI_TMP/tree/lib/modules/$KVER" --subdir extra --firmware "$KMI_TMP/fw" \
		-t "oci:$KMI_TMP/img:$comp" "$vfat" "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko" >/dev/null 2>&1 ||
		fail "kmodimg build ($comp) failed"
done
same_as_umoci "$KMI_TMP/img" gzip img-gzip
# umoci 0.4.7 has no zstd: the zstd image must give the gzip one's tree.
kmi_run zstd "$KMODIMG" extract "oci:$KMI_TMP/img:zstd" "$KMI_TMP/img-zstd.ours"
((KMI_RC == 0)) || fail_later "zstd extract: rc $KMI_RC: $(cat "$KMI_TMP/zstd.err")"
diff <(tree_of "$KMI_TMP/img-zstd.ours") "$KMI_TMP/img-gzip.ours.tree" >/dev/null ||
	fail_later "the zstd image's tree differs from the gzip one's"
m=$KMI_TMP/img-gzip.ours/opt/lib/modules/$KVER
[[ $(readlink "$m/host") == "/lib/modules/$KVER" ]] || fail_later "host link: $(readlink "$m/host")"
cmp -s "$m/extra/kmodimg_a.ko" "$ex/kmodimg_a.ko" || fail_later "module bytes changed"
[[ -f $KMI_TMP/img-gzip.ours/lib/firmware/acme/blob.bin ]] || fail_later "firmware missing"
[[ $(stat -c %a "$KMI_TMP/img-gzip.ours") == 755 ]] || fail_later "new DEST is not 0755"
modprobe -d "$KMI_TMP/img-gzip.ours/opt" -S "$KVER" --show-depends kmodimg_b >"$KMI_TMP/sd" 2>&1 ||
	fail_later "modprobe cannot read the extracted tree: $(cat "$KMI_TMP/sd")"
grep -q "insmod .*/kmodimg_a.ko" "$KMI_TMP/sd" || fail_later "modprobe does not load kmodimg_a first"
ok "same tree as umoci; modprobe reads it"

step "into an empty directory; refusals of DIR"
mkdir "$KMI_TMP/empty"
kmi_run empty "$KMODIMG" extract "oci:$KMI_TMP/img:gzip" "$KMI_TMP/empty"
((KMI_RC == 0)) || fail_later "extract into an empty dir: rc $KMI_RC: $(cat "$KMI_TMP/empty.err")"
diff <(tree_of "$KMI_TMP/empty") "$KMI_TMP/img-gzip.ours.tree" >/dev/null ||
	fail_later "the empty-dir extraction differs from the new-dir one"
kmi_run notempty "$KMODIMG" extract "oci:$KMI_TMP/img:gzip" "$KMI_TMP/empty"
((KMI_RC == 2)) && grep -q "is not empty" "$KMI_TMP/notempty.err" ||
	fail_later "non-empty DIR: rc $KMI_RC: $(cat "$KMI_TMP/notempty.err")"
touch "$KMI_TMP/afile"
kmi_run isfile "$KMODIMG" extract "oci:$KMI_TMP/img:gzip" "$KMI_TMP/afile"
((KMI_RC == 2)) || fail_later "DIR is a file: rc $KMI_RC"
kmi_run missing "$KMODIMG" extract "oci:$KMI_TMP/img:nope" "$KMI_TMP/x-missing"
((KMI_RC == 1)) || fail_later "missing tag: rc $KMI_RC: $(cat "$KMI_TMP/missing.err")"
[[ ! -e $KMI_TMP/x-missing ]] || fail_later "missing image left DIR behind"
kmi_run usage "$KMODIMG" extract "oci:$KMI_TMP/img:gzip"
((KMI_RC == 2)) || fail_later "one argument: rc $KMI_RC"
kmi_run badlimit "$KMODIMG" extract --max-size=lots "oci:$KMI_TMP/img:gzip" "$KMI_TMP/x-bad"
((KMI_RC == 2)) || fail_later "bad --max-size: rc $KMI_RC"
grep -q -- "--max-entries=N .*default 100000" < <("$KMODIMG" extract --help) || fail_later "--help lacks the limits"
kmi_run small "$KMODIMG" extract --max-file-size=1K "oci:$KMI_TMP/img:gzip" "$KMI_TMP/x-small"
((KMI_RC == 1)) && grep -q "over the limit of 1024 for one file" "$KMI_TMP/small.err" ||
	fail_later "--max-file-size: rc $KMI_RC: $(cat "$KMI_TMP/small.err")"
[[ ! -e $KMI_TMP/x-small ]] || fail_later "a refused extraction left DIR"
ok "empty DIR, refusals, limits"

# ---------------------------------------------------------------- KMM's legacy case

step "KMM's legacy archive: file, hardlink, relative and absolute symlinks, nested dirs"
src=$KMI_TMP/legacy-src
mkdir -p "$src/subdir/subsubdir" "$src/lib/modules"
cp "$ex/kmodimg_a.ko" "$src/a"
ln "$src/a" "$src/link"
ln -s a "$src/symlink"
ln -s /lib/modules "$src/lib-modules-symlink"
ln -s /lib/modules "$src/lib/modules/x"
echo b >"$src/subdir/b"
echo c >"$src/subdir/subsubdir/c"
chmod 0755 "$src/subdir/subsubdir/c"
tar --sort=name --owner=0 --group=0 --mtime=@0 -C "$src" -cf "$KMI_TMP/legacy.tar" .
mk_layout "$KMI_TMP/legacy" v1 "$KMI_TMP/legacy.tar"
same_as_umoci "$KMI_TMP/legacy" v1 legacy
o=$KMI_TMP/legacy.ours
[[ $(stat -c %i "$o/a") == $(stat -c %i "$o/link") ]] || fail_later "link is not a hardlink to a"
[[ $(readlink "$o/symlink") == a ]] || fail_later "symlink: $(readlink "$o/symlink")"
[[ $(readlink "$o/lib-modules-symlink") == /lib/modules ]] || fail_later "absolute symlink not verbatim"
[[ -f $o/subdir/subsubdir/c && -d $o/subdir ]] || fail_later "nested dirs"
ok "KMM's legacy case"

step "whiteouts over two layers, against umoci"
l1=$KMI_TMP/wh1 l2=$KMI_TMP/wh2
mkdir -p "$l1/etc" "$l1/opq/sub" "$l1/gone/deep" "$l2/etc" "$l2/opq"
echo a >"$l1/etc/a"
echo b >"$l1/etc/b"
echo old >"$l1/opq/old"
echo x >"$l1/opq/sub/x"
echo f >"$l1/gone/deep/f"
: >"$l2/etc/.wh.a"
: >"$l2/.wh.gone"
: >"$l2/opq/.wh..wh..opq"
echo new >"$l2/opq/new"
tar --sort=name --owner=0 --group=0 --mtime=@0 -C "$l1" -cf "$KMI_TMP/wh1.tar" .
tar --sort=name --owner=0 --group=0 --mtime=@0 -C "$l2" -cf "$KMI_TMP/wh2.tar" .
mk_layout "$KMI_TMP/wh" v1 "$KMI_TMP/wh1.tar" "$KMI_TMP/wh2.tar"
same_as_umoci "$KMI_TMP/wh" v1 wh
o=$KMI_TMP/wh.ours
[[ ! -e $o/etc/a && -f $o/etc/b && ! -e $o/gone && ! -e $o/opq/old && ! -e $o/opq/sub && -f $o/opq/new ]] ||
	fail_later "whiteouts not applied: $(cd "$o" && find . | sort | tr '\n' ' ')"
[[ -z $(find "$o" -name '.wh.*') ]] || fail_later "whiteout files were created"
ok "whiteouts"

# ---------------------------------------------------------------- hostile images

step "hostile layers: refused, named, nothing left behind"
mkdir -p "$KMI_TMP/outside"
echo sentinel >"$KMI_TMP/outside/file"
hostile() {
	local name=$1 want=$2 before after
	shift 2
	hostile_tar "$KMI_TMP/$name.tar" "$@"
	mk_layout "$KMI_TMP/$name" v1 "$KMI_TMP/legacy.tar" "$KMI_TMP/$name.tar"
	: >"$KMI_TMP/$name.out"
	: >"$KMI_TMP/$name.err"
	before=$(cd "$KMI_TMP" && find outside . -maxdepth 1 | sort; sha256sum outside/file; stat -c %h /etc/passwd)
	kmi_run "$name" "$KMODIMG" extract "oci:$KMI_TMP/$name:v1" "$KMI_TMP/dest"
	after=$(cd "$KMI_TMP" && find outside . -maxdepth 1 | sort; sha256sum outside/file; stat -c %h /etc/passwd)
	((KMI_RC == 1)) || fail_later "$name: rc $KMI_RC (want 1)"
	grep -qF -- "$want" "$KMI_TMP/$name.err" || fail_later "$name: message: $(cat "$KMI_TMP/$name.err")"
	[[ ! -e $KMI_TMP/dest ]] || fail_later "$name: DEST left behind"
	[[ $before == "$after" ]] || fail_later "$name: something beside DEST changed: $(diff <(echo "$before") <(echo "$after"))"
}
digest() { jq -r '.layers[1].digest' "$KMI_TMP/$1/blobs/sha256/$(jq -r '.manifests[0].digest' "$KMI_TMP/$1/index.json" | cut -d: -f2)"; }
hostile traversal "entry \`../outside/pwned\`: path escapes the root" f:../outside/pwned:x
[[ $(grep -o 'layer sha256:[0-9a-f]*' "$KMI_TMP/traversal.err") == "layer $(digest traversal)" ]] ||
	fail_later "the message does not name the second layer: $(cat "$KMI_TMP/traversal.err")"
hostile absolute "entry \`$KMI_TMP/outside/pwned\`: absolute path" "f:$KMI_TMP/outside/pwned:x"
hostile through-link "entry \`link/pwned\`: path goes through the symlink \`link\`" \
	"l:link:$KMI_TMP/outside" f:link/pwned:x
hostile chain "path goes through the symlink \`a\`" l:a:b l:b:../outside f:a/pwned:x
hostile hardlink-out "hardlink target \`/etc/passwd\`: absolute path" h:pw:/etc/passwd
hostile hardlink-up "hardlink target \`../outside/file\`: path escapes the root" h:o:../outside/file
hostile whiteout-up "whiteout escapes its directory" f:.wh...
hostile device "character device: device nodes are not allowed" c:null
mk_layout "$KMI_TMP/corrupt" v1 "$KMI_TMP/legacy.tar"
blob=$(jq -r '.layers[0].digest' "$KMI_TMP/corrupt/blobs/sha256/$(jq -r '.manifests[0].digest' "$KMI_TMP/corrupt/index.json" | cut -d: -f2)")
printf '\0' | dd of="$KMI_TMP/corrupt/blobs/sha256/${blob#sha256:}" bs=1 seek=100 conv=notrunc 2>/dev/null
kmi_run corrupt "$KMODIMG" extract "oci:$KMI_TMP/corrupt:v1" "$KMI_TMP/dest"
((KMI_RC == 1)) && [[ ! -e $KMI_TMP/dest ]] && grep -q "layer $blob: the blob is corrupt" "$KMI_TMP/corrupt.err" ||
	fail_later "corrupt blob: rc $KMI_RC: $(cat "$KMI_TMP/corrupt.err")"
leftover=$(find "$KMI_TMP" -maxdepth 1 -name '*.kmodimg-tmp-*')
[[ -z $leftover ]] || fail_later "temp dirs left: $leftover"
ok "hostile layers refused"

# ---------------------------------------------------------------- a registry

step "from a registry (htpasswd), and a refused login"
if [[ -r $KMI_LIB_DIR/registry.sh ]] && command -v docker-registry >/dev/null 2>&1 &&
	command -v htpasswd >/dev/null 2>&1; then
	# shellcheck source=../lib/registry.sh
	. "$KMI_LIB_DIR/registry.sh"
	kmi_reg_start htpasswd
	"$KMODIMG" copy "${KMI_REG_CLIENT[@]}" "oci:$KMI_TMP/img:gzip" "docker://$KMI_REG_HOST/ex:1" >/dev/null ||
		fail "push to the registry failed"
	kmi_run reg "$KMODIMG" extract "${KMI_REG_CLIENT[@]}" "docker://$KMI_REG_HOST/ex:1" "$KMI_TMP/reg"
	((KMI_RC == 0)) || fail_later "extract from the registry: rc $KMI_RC: $(cat "$KMI_TMP/reg.err")"
	diff <(tree_of "$KMI_TMP/reg") "$KMI_TMP/img-gzip.ours.tree" >/dev/null ||
		fail_later "the registry extraction differs from the layout one"
	kmi_run badauth "$KMODIMG" extract --insecure --creds "$KMI_REG_USER:wrong" \
		"docker://$KMI_REG_HOST/ex:1" "$KMI_TMP/reg2"
	((KMI_RC == 2)) && [[ ! -e $KMI_TMP/reg2 ]] || fail_later "bad credentials: rc $KMI_RC"
	kmi_run regmissing "$KMODIMG" extract "${KMI_REG_CLIENT[@]}" "docker://$KMI_REG_HOST/ex:nope" "$KMI_TMP/reg3"
	((KMI_RC == 1)) || fail_later "missing tag in the registry: rc $KMI_RC"
	[[ -z $(find "$KMI_TMP" -maxdepth 1 -name '.kmodimg-blob-*') ]] || fail_later "download temp files left"
	kmi_reg_stop
	ok "registry source"
else
	echo "(no docker-registry or tests/lib/registry.sh: registry step not run)"
fi
pass
