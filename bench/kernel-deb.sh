# shellcheck shell=bash
# bench/kernel-deb.sh: Debian's linux-image .deb for the benchmarks that
# work on a whole module tree (depmod.sh, layer.sh), resolved and cached as
# the tests do.  The sourcing script sets prog, cache and tmp; this file
# sets kver, deb and dl (a download in progress, removed by cleanup).

dl=
kver=
deb=

die() {
	echo "$prog: error: $*" >&2
	exit 1
}

cleanup() {
	[ -z "$tmp" ] || rm -rf "$tmp"
	[ -z "$dl" ] || rm -rf "$dl"
}

# Newest of the cached .debs matching a glob pattern, or nothing.
newest_deb() {
	local -a f
	shopt -s nullglob
	# shellcheck disable=SC2206 # the pattern is meant to glob
	f=($1)
	shopt -u nullglob
	[ ${#f[@]} -eq 0 ] || printf '%s\n' "${f[@]}" | sort -V | tail -1
}

resolve_kver() {
	kver=${KVER:-$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/.*Depends: linux-image-\(.*\)/\1/p' | head -1)}
	if [ -z "$kver" ]; then
		# Offline and no package lists: fall back to the newest cached image.
		deb=$(newest_deb "$cache/linux-image-*_amd64.deb")
		[ -n "$deb" ] ||
			die "cannot resolve the kernel ABI (run apt-get update, or set KVER)"
		kver=$(dpkg-deb -f "$deb" Package)
		kver=${kver#linux-image-}
	fi
}

fetch_deb() {
	[ -n "$deb" ] || deb=$(newest_deb "$cache/linux-image-${kver}_*_amd64.deb")
	if [ -z "$deb" ]; then
		echo "Downloading linux-image-$kver into $cache"
		mkdir -p "$cache"
		# Download into a private dir, then rename (as the tests do), so an
		# interrupted download never looks like a complete .deb. Sandbox user
		# root: no "_apt couldn't access" warning for a root-owned directory.
		dl=$(mktemp -d "$cache/.download.XXXXXX")
		if ! (cd "$dl" && apt-get download -q -o APT::Sandbox::User=root "linux-image-$kver"); then
			rm -rf "$dl"
			die "apt-get download linux-image-$kver failed"
		fi
		mv "$dl"/linux-image-"$kver"_*.deb "$cache"/
		rm -rf "$dl"
		dl=
		deb=$(newest_deb "$cache/linux-image-${kver}_*_amd64.deb")
		[ -n "$deb" ] || die "apt-get download left no linux-image-${kver}_*_amd64.deb in $cache"
	fi
	dpkg-deb -f "$deb" Package >/dev/null 2>&1 ||
		die "$deb is not a valid .deb (delete it to download again)"
}
