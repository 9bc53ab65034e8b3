#!/usr/bin/env bash
# Training throughput at 2 threads against 1, as sgdsync-sweep records it: updates/s of
# hogwild and leashed at batch 512, and of all five methods at batch 16, where synchronization
# dominates. Fashion-MNIST, mlp:3x128, threads pinned compact, counters off (their reads would
# be part of every update). Each configuration runs --repetitions times; the median counts.
#
# usage: scripts/train-scaling.sh [BUILD_DIR] [REPETITIONS]   (defaults: build, 3)
# The sweep file goes to $OUT (default /tmp/sgdsync-train-scaling.jsonl); rerunning resumes it,
# so delete it to measure again. A benchmark, not a test: run it on an otherwise idle machine.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
reps=${2:-3}
out=${OUT:-/tmp/sgdsync-train-scaling.jsonl}
sweep=$build/harness/sgdsync-sweep
[ -x "$sweep" ] || { echo "no $sweep: build the sgdsync-sweep target first" >&2; exit 2; }

common=(--output="$out" --threads=1,2 --arch=mlp:3x128 --data=fashion-mnist --eta=0.01
	--pinning=compact --counters=none --repetitions="$reps" --time-limit=300)
"$sweep" "${common[@]}" --methods=hogwild,leashed --batch=512 --steps=300 --steps-per-epoch=300
"$sweep" "${common[@]}" --methods=sync,mutex,rwlock,hogwild,leashed --batch=16 --steps=6000 \
	--steps-per-epoch=6000

python3 - "$out" <<'EOF'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    c = r["config"]
    if r["result"] is None:
        print(f"{r['key']}: {r['outcome']}, no throughput")
        continue
    ups = r["result"]["totals"]["updates_per_s"]
    runs.setdefault((c["batch"], c["method"], c["threads"]), []).append(ups)
print(f"{'batch':>5} {'method':<8} {'1 thread':>12} {'2 threads':>12} {'2 / 1':>7}   (updates/s, median of runs)")
for batch in sorted({k[0] for k in runs}, reverse=True):
    for method in ["sync", "mutex", "rwlock", "hogwild", "leashed"]:
        one, two = runs.get((batch, method, 1)), runs.get((batch, method, 2))
        if not one or not two:
            continue
        a, b = statistics.median(one), statistics.median(two)
        print(f"{batch:>5} {method:<8} {a:>12.1f} {b:>12.1f} {b / a:>7.2f}   "
              f"({len(one)}+{len(two)} runs; 2-thread range {min(two) / a:.2f}..{max(two) / a:.2f})")
EOF
