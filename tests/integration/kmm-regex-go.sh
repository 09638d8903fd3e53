#!/bin/bash
# kmm_regex (PCRE2 behind an RE2 syntax check) against Go's own regexp, the
# engine KMM matches kernel mappings with: the patterns of tests/kmm/regex.txt
# and a few thousand generated ones (seeded, so every run is the same), each
# compiled by both (accepted or rejected alike) and matched on kernel-like
# subjects (the same answer).  Needs the Go toolchain (golang-go); skips
# without it.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

kmi_need_cmds go python3
kmi_require_kmodimg
driver=$(dirname "$KMODIMG")/tests/kmm-regex-driver
[[ -x $driver ]] || fail "no $driver (built with the tests)"
kmi_mktemp
T=$KMI_TMP
export GOCACHE=$T/gocache GOPATH=$T/gopath GOFLAGS=-mod=mod GO111MODULE=off

cat >"$T/oracle.go" <<'EOGO'
// Go's regexp on the driver's input format: "reject", or 0/1 per subject.
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		var fields []string
		for _, f := range strings.Split(in.Text(), "\t") {
			if f != "" {
				fields = append(fields, f)
			}
		}
		if len(fields) == 0 {
			fmt.Fprintln(out, "reject")
			continue
		}
		re, err := regexp.Compile(fields[0])
		if err != nil {
			fmt.Fprintln(out, "reject")
			continue
		}
		for _, s := range fields[1:] {
			s = strings.NewReplacer(`\n`, "\n", `\\`, `\`).Replace(s)
			if re.MatchString(s) {
				out.WriteString("1")
			} else {
				out.WriteString("0")
			}
		}
		out.WriteString("\n")
	}
}
EOGO
(cd "$T" && go build -o oracle oracle.go) || fail "cannot build the Go oracle"

# Go before 1.22 does not know (?<name>...): leave those patterns out there.
gominor=$(go version | sed -n 's/.*go1\.\([0-9]*\).*/\1/p')
python3 - "$KMODIMG_SRC/tests/kmm/regex.txt" "${gominor:-0}" >"$T/cases" <<'EOPY'
import random, sys
subjects = ["6.1.0-18-amd64", "5.14.0-362.el9.x86_64", "1.2.3", "a.b", "ab\\nc", "AMD64",
            "x", "aaa", "6.0.15-300.fc37.x86_64", "-", "a b", "Aa1_"]
pats = []
for line in open(sys.argv[1]):
    if line.startswith("#") or "\t" not in line:
        continue
    pats.append(line.split("\t")[0])
tokens = ["a", "b", "1", ".", "\\.", "-", "\\d", "\\D", "\\w", "\\W", "\\s", "\\S", "\\b", "\\B", "^", "$",
          "[a-c]", "[^a]", "[.]", "[[:alpha:]]", "[[:^digit:]]", "[\\d-]", "(", ")", "(?:", "(?i)", "(?s)", "(?m)",
          "(?U)", "(?i:", "|", "*", "+", "?", "*?", "+?", "??", "{2}", "{1,3}", "{2,}", "{,2}", "{3,1}",
          "{1001}", "\\pL", "\\p{Greek}", "\\PN", "\\x41", "\\x{61}", "\\101", "\\0", "\\v", "\\t", "\\A", "\\z",
          "\\Q.\\E", "(?P<n>", "\\1", "(?=", "(?!", "(?<=", "(?>", "*+", "++", "\\C", "\\K", "\\Z", "\\G",
          "\\h", "\\R", "(?#", "(?x)", "\\e", "\\cA", "\\o{1}", "\\N", "\\X", "[[=a=]]", "]", "}", "{", "\\8"]
if int(sys.argv[2]) >= 22:
    tokens.append("(?<n>")
good = ["a", "b", "1", ".", "\\.", "-", "_", "\\d", "\\w", "\\s", "\\b", "^", "$", "[a-c]", "[^a]", "[0-9]",
        "(", ")", "(?:", "(?i)", "(?m)", "(?s)", "|", "*", "+", "?", "*?", "{1,3}", "\\pL", "[[:alpha:]]", "x86_64", "el9", "amd64"]
rnd = random.Random(20261127)
for _ in range(4000):
    pats.append("".join(rnd.choice(tokens) for _ in range(rnd.randint(1, 6))))
for _ in range(3000):  # mostly valid ones, to compare matches more than errors
    pats.append("".join(rnd.choice(good) for _ in range(rnd.randint(1, 8))))
for p in pats:
    if int(sys.argv[2]) < 22 and "(?<" in p and "(?<=" not in p and "(?<!" not in p:
        continue
    print(p + "\t" + "\t".join(subjects))
EOPY
"$T/oracle" <"$T/cases" >"$T/go.out"
"$driver" <"$T/cases" >"$T/ours.out"
n=$(wc -l <"$T/cases")
if paste "$T/cases" "$T/go.out" "$T/ours.out" | awk -F'\t' '{ go = $(NF-1); ours = $NF; if (go != ours) { print "pattern `" $1 "`: go " go ", ours " ours; bad++ } } END { exit bad > 0 }'; then
	ok "$n patterns: accepted, rejected and matched as Go's regexp does"
else
	fail_later "patterns where kmm_regex differs from Go's regexp (above)"
fi
rejected=$(grep -c '^reject$' "$T/go.out" || true)
echo "go rejected $rejected of $n patterns"
pass
