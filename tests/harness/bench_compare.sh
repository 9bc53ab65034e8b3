#!/bin/sh
# Google Benchmark's compare.py (libbenchmark-tools) works unchanged on a shim binary's JSON:
# two runs of the binary given as $1, compared benchmark by benchmark.
set -eu
bin=$1
compare=/usr/share/benchmark/compare.py
[ -f "$compare" ] || { echo "no $compare: install libbenchmark-tools" >&2; exit 1; }
# compare.py needs scipy: Debian's python3 has it (python3-scipy); a python3 earlier on PATH may not.
python=/usr/bin/python3
[ -x "$python" ] || python=python3
dir=$(mktemp -d /tmp/sgdsync-test-bench-compare-XXXXXX)
trap 'rm -rf "$dir"' EXIT
for run in a b; do
    "$bin" --counters=none --benchmark_filter='shimtest/args' --benchmark_min_time=0.01 \
        --benchmark_out="$dir/$run.json" --benchmark_out_format=json >/dev/null
done
"$python" "$compare" --no-color benchmarks "$dir/a.json" "$dir/b.json" >"$dir/report"
# One comparison row per benchmark of the filter.
for name in shimtest/args/cs:16/read_pct:50/real_time shimtest/args/cs:1024/read_pct:50/real_time; do
    grep -q "^$name " "$dir/report" || { echo "compare.py reports no $name:" >&2; cat "$dir/report" >&2; exit 1; }
done
echo "compare.py compared both runs"
