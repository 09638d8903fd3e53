# shellcheck shell=bash
# bench/lib.sh: timing and reporting shared by the benchmarks that compare
# kmodimg with a peer in the same run (sourced by image.sh and worker.sh).

# seconds CMD...: wall time of one run, in seconds (output discarded); a
# failing run stops the benchmark.
seconds() {
	python3 - "$@" <<'PY'
import subprocess, sys, time
t = time.monotonic()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, shell=False)
if r.returncode != 0:
    sys.exit("failed (%d): %s" % (r.returncode, " ".join(sys.argv[1:])))
print("%.6f" % (time.monotonic() - t))
PY
}

# median: of the numbers on standard input, one per line.
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# report NAME GOAL OURS_TIMES_FILE PEER_TIMES_FILE: one line, medians and ratio.
report() {
	local o p
	o=$(median <"$3")
	p=$(median <"$4")
	printf '%-40s ours %9.5f s   peer %9.5f s   ratio %.3f   (goal %s)\n' "$1" "$o" "$p" \
		"$(awk -v a="$o" -v b="$p" 'BEGIN {print a / b}')" "$2"
}

# ours_first I: true on even runs (ours first), false on odd ones (the peer
# first), so that the order favours neither.  It matters: on ext4 without a
# journal (this machine's), allocating an inode skips those freed in the
# last 30 s (dirty_expire_centisecs) by scanning for them, so whoever creates
# thousands of files right after thousands were removed pays seconds of
# system time (extracting Debian's tree: 2.4-3.8 s right after removing
# one, 1.3 s when run 35 s later).
ours_first() { (($1 % 2 == 0)); }
