#!/usr/bin/env bash
# main.sh --full --dry-run against its promises, for 2, 16 and 64 PUs: it creates nothing; every
# benchmark group's estimate is below its time limit, and the groups of each binary are disjoint
# and cover every benchmark it lists; every training slice's estimate is below its limit, and the
# slices cover every lock kind, backoff policy and step policy sgdsync-train accepts, every
# placement, mlp, cnn and lenet, bounded persistence; on 2 PUs the whole profile is under 3 h.
# Usage: test_main_plan.sh MAIN_SH BUILD_DIR
set -uo pipefail
main=$1 build=$2
train=$(find "$build" -type f -name sgdsync-train -perm -u+x | head -n 1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
errors=0
fail() { echo "FAIL: $*"; errors=$((errors + 1)); }

# valid OPTION: what sgdsync-train lists for a value it refuses, one per line.
valid() {
	"$train" --"$1"='?' 2>&1 | sed -n 's/.*(valid: \(.*\))$/\1/p' | tr -d ' ' | tr , '\n' | grep -v '[=:]'
}

# slice_values PLAN SLICE KEY: the values the slice's last --KEY= flag gives, one per line.
slice_values() {
	grep "^    slice train $2 " "$1" | grep -o -- "--$3=[^ ]*" | tail -n 1 | cut -d= -f2- | tr , '\n'
}

# swept SLICE KEY VALUE...: a failure for each value the slice's --KEY does not list (uses the
# caller's plan and pus).
swept() {
	local slice=$1 key=$2 v
	shift 2
	for v in "$@"; do
		slice_values "$plan" "$slice" "$key" | grep -qx -- "$v" || fail "$pus PUs: $key $v is not swept (slice $slice)"
	done
}

check_plan() {
	local pus=$1 plan="$tmp/plan-$1.txt" out="$tmp/out-$1" threads b exe
	if ! SGDSYNC_PUS=$pus "$main" --full --dry-run --no-deps --build-dir "$build" --out "$out" >"$plan" 2>&1; then
		fail "$pus PUs: main.sh --full --dry-run failed:"; cat "$plan"
		return
	fi
	[ -e "$out" ] && fail "$pus PUs: --dry-run created $out"
	threads=$(sed -n 's/^sgdsync: plan: full profile, [0-9]* PUs, threads \([0-9,]*\),.*/\1/p' "$plan")
	local t=1 want=""
	while [ $t -le $((2 * pus)) ]; do want="$want,$t"; t=$((t * 2)); done
	[ "$threads" = "${want#,}" ] || [ "$threads" = "${want#,},$pus" ] ||
		fail "$pus PUs: threads '$threads', expected the powers of two up to $((2 * pus))"

	awk -v pus="$pus" '/^    (group|slice) / {
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] + 0 }
		if (!(v["est"] < v["limit"])) { print "FAIL: " pus " PUs: estimate not below the limit: " $0; bad++ }
	} END { exit bad > 0 }' "$plan" || errors=$((errors + 1))
	[ "$(grep -c '^sgdsync:   bench-' "$plan")" -ge 4 ] || fail "$pus PUs: fewer than 4 benchmark binaries in the plan"

	for b in $(sed -n 's/^sgdsync:   bench-\([a-z]*\) .*/\1/p' "$plan"); do
		exe=$(find "$build" -type f -name "sgdsync-bench-$b" -perm -u+x | head -n 1)
		grep "^    group bench-$b " "$plan" | awk '{ print $3 }' >"$tmp/prefixes"
		"$exe" --grid=full --threads="$threads" --benchmark_list_tests 2>/dev/null | grep / >"$tmp/names"
		# Each name must fall in exactly one group: one of its /-prefixes is a group's.
		awk -F/ -v pus="$pus" -v b="$b" 'NR == FNR { group[$0] = 1; next }
		{ p = $1; m = 0; for (d = 2; d <= NF; d++) { p = p "/" $d; m += (p in group) }
		  if (m != 1 && bad++ < 5) print "FAIL: " pus " PUs: bench-" b ": " $0 " is in " m " groups" }
		END { exit bad > 0 }' "$tmp/prefixes" "$tmp/names" || errors=$((errors + 1))
		[ -s "$tmp/names" ] || fail "$pus PUs: bench-$b lists no benchmarks"
	done

	# shellcheck disable=SC2046 # one value per word
	{
		swept lock lock $(valid lock)
		swept backoff backoff $(valid backoff)
		swept step-policy step-policy $(valid step-policy)
		swept placement placement local interleave $(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | sed 's/.*node/node:/')
		swept arch arch cnn lenet
	}
	grep -q -- "--arch=mlp:3x128 " "$plan" || fail "$pus PUs: no mlp:3x128 base point"
	slice_values "$plan" persistence persistence | grep -qvx 0 || fail "$pus PUs: no bounded persistence swept"
	slice_values "$plan" rwlock-lock lock | grep -qvx default || fail "$pus PUs: no read-write lock kind swept"
	[ "$(slice_values "$plan" batch batch | wc -l)" -ge 4 ] || fail "$pus PUs: fewer than 4 batch sizes"
	[ "$(slice_values "$plan" eta eta | wc -l)" -ge 3 ] || fail "$pus PUs: fewer than 3 step sizes"

	total=$(sed -n 's/^sgdsync:   total est \([0-9]*\) s.*/\1/p' "$plan")
	[ -n "$total" ] || fail "$pus PUs: no total estimate"
	echo "$pus PUs: threads $threads, $(grep -c '^    group ' "$plan") benchmark groups, $(grep -c '^    slice ' "$plan") training slices, total est ${total:-?} s"
}

for pus in 2 16 64; do
	check_plan "$pus"
done
total=$(sed -n 's/^sgdsync:   total est \([0-9]*\) s.*/\1/p' "$tmp/plan-2.txt")
[ "${total:-99999}" -le 10800 ] || fail "2 PUs: the full profile's estimate ${total:-?} s is over 3 h"

SGDSYNC_PUS=two "$main" --full --dry-run --build-dir "$build" >/dev/null 2>"$tmp/err"
rc=$?
{ [ $rc -eq 2 ] && grep -q SGDSYNC_PUS "$tmp/err"; } || fail "SGDSYNC_PUS=two: exit $rc ($(cat "$tmp/err")), expected 2 naming it"
SGDSYNC_PUS=2 "$main" --full --dry-run --build-dir "$tmp/no-build" >/dev/null 2>"$tmp/err"
rc=$?
{ [ $rc -ne 0 ] && grep -q "not built" "$tmp/err"; } || fail "a build directory without binaries: exit $rc, expected a failure saying what is not built"

[ $errors -eq 0 ] && echo "main.sh plan: all checks passed"
[ $errors -eq 0 ]
