#!/usr/bin/env bash
# sgdsync's main job, on whatever machine it runs: installs the Debian dependencies, builds
# Release, runs every micro-benchmark binary and end-to-end training of every method on
# Fashion-MNIST, and builds the report. Results land in sgdsync-results/<UTC time>/.
#
# Each part (dependencies, build, each benchmark binary, the training sweep, the report) runs on
# its own: a part that fails is reported with the tail of its log and the job goes on, so what
# was measured is kept and the report covers what exists. Exit status: 0 when every part
# succeeded, 1 when some failed (the report still built where possible), 2 for bad arguments.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
profile=quick
out_root="$root/sgdsync-results"
build="$root/build"
install_deps=1
resume=""
failed=()

usage() {
	cat <<EOF
Usage: sudo scripts/main.sh [--quick | --full] [--out DIR] [--build-dir DIR] [--no-deps] [--resume RUNDIR]

  --quick          default: small grids, 0.1 s per benchmark; 3-4 minutes on an idle 2-core
                   machine, up to 10 on a loaded one
  --full           the study's grids: threads 1 to 2x the hardware threads, batch 16-1024,
                   step sizes, backoff policies, repetitions (hours on a big machine)
  --out DIR        where the run directory goes (default: $out_root)
  --build-dir DIR  CMake build directory (default: $build)
  --no-deps        do not run scripts/install-deps.sh (needs root or sudo otherwise)
  --resume RUNDIR  continue an interrupted run in RUNDIR: benchmarks with results are not run
                   again, the training sweep skips the configurations it has recorded
EOF
}

say() { printf 'sgdsync: %s\n' "$*"; }

# part NAME COMMAND...: runs one part with its output in logs/NAME.log; a failure is recorded
# and shown, never fatal.
part() {
	local name=$1 log="$run/logs/$1.log" start rc
	shift
	start=$(date +%s)
	say "$name ..."
	echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) $name" >>"$log"  # a resumed run appends
	"$@" >>"$log" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		say "$name: ok ($(($(date +%s) - start)) s)"
	else
		say "$name: FAILED (exit $rc$([ $rc -eq 124 ] && echo ', time limit'), $(($(date +%s) - start)) s); log: $log"
		# The lines that say what went wrong, else the end of the log.
		{ grep -E -m 8 'error|FAILED|not built|No such' "$log" || tail -n 8 "$log"; } | sed 's/^/    | /'
		failed+=("$name")
	fi
	return $rc
}

find_binary() {
	find "$build" -type f -name "$1" -perm -u+x 2>/dev/null | head -n 1
}

# The thread counts of the full profile: powers of two up to twice the hardware threads, plus
# the hardware thread count and twice it.
full_threads() {
	local t=1 list=""
	while [ $t -le $((2 * pus)) ]; do list="$list,$t"; t=$((t * 2)); done
	case ",$list," in *",$pus,"*) ;; *) list="$list,$pus" ;; esac
	case ",$list," in *",$((2 * pus)),"*) ;; *) list="$list,$((2 * pus))" ;; esac
	echo "${list#,}"
}

configure_and_build() {
	cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release || return
	# -k 0: a target that fails to build does not stop the others (their binaries still run).
	cmake --build "$build" -- -k 0
}

# bench NAME: one micro-benchmark binary over the profile's grid, one run (and one JSON file
# under bench/<binary>/) per primitive, so that a primitive that hangs past its time limit loses
# only its own results. A finished run's JSON is moved into place; a killed one stays in logs/.
bench() {
	local name="sgdsync-bench-$1" exe groups g out tmp rc=0
	exe=$(find_binary "$name")
	if [ -z "$exe" ]; then
		echo "$name: not built (see logs/build.log)"
		return 1
	fi
	local flags=(--counters=auto --benchmark_out_format=json)
	if [ "$profile" = full ]; then
		flags+=(--grid=full --threads="$(full_threads)" --benchmark_repetitions=5 --benchmark_min_time=0.5)
	else
		flags+=(--grid=default --benchmark_min_time=0.1)
		# The binaries' default thread counts oversubscribe the machine (4x its hardware
		# threads); locks that hand over to a preempted waiter (ticket) then take minutes per
		# benchmark, so the quick suite keeps locks within the hardware threads.
		[ "$1" = locks ] && flags+=(--threads="$(printf '%s\n' 1 2 "$pus" | sort -nu | paste -sd,)")
	fi
	mapfile -t groups < <("$exe" "${flags[@]}" --benchmark_list_tests 2>/dev/null | grep / | cut -d/ -f1-2 | awk '!seen[$0]++')
	if [ ${#groups[@]} -eq 0 ]; then
		echo "$name: lists no benchmarks"
		return 1
	fi
	mkdir -p "$run/bench/$name"
	for g in "${groups[@]}"; do
		out="$run/bench/$name/${g//\//_}.json"
		tmp="$run/logs/$name-${g//\//_}.json.partial"
		[ -s "$out" ] && { echo "$g: kept from the interrupted run"; continue; }
		echo "+ $exe ${flags[*]} --benchmark_filter=^$g/"
		timeout "$chunk_limit" "$exe" "${flags[@]}" --benchmark_filter="^$g/" --benchmark_out="$tmp"
		local status=$?
		if [ $status -eq 0 ]; then
			mv "$tmp" "$out"
		else
			echo "$name: $g: FAILED (exit $status$([ $status -eq 124 ] && echo ", over the ${chunk_limit} s limit"))"
			rc=1
		fi
	done
	return $rc
}

# The training sweeps: every method at 1, 2 and 4 threads and batch 16 and 128 on Fashion-MNIST
# (quick), or the study's grid (full). Each configuration runs in its own process, so a crash is
# an outcome; the sweep appends to one JSON Lines file and skips what it holds, so --resume
# continues.
train() {
	local exe rc=0
	exe=$(find_binary sgdsync-sweep)
	if [ -z "$exe" ]; then
		echo "sgdsync-sweep: not built (see logs/build.log)"
		return 1
	fi
	local common=(--data=fashion-mnist --arch=mlp:3x128 --output="$run/train/sweep.jsonl")
	if [ "$profile" = full ]; then
		local threads
		threads=$(full_threads)
		sweep "$exe" "${common[@]}" --methods=sync,mutex,rwlock,hogwild,leashed --threads="$threads" \
			--batch=16,64,256,1024 --eta=0.01,0.05 --backoff=none --repetitions=3 --epochs=5 \
			--time-limit=1800 || rc=1
		# Backoff matters only where workers wait (locks) or retry (the CAS of leashed).
		sweep "$exe" "${common[@]}" --methods=mutex,rwlock,leashed --threads="$threads" --batch=16,256 \
			--eta=0.01 --backoff=exp,yield --repetitions=3 --epochs=5 --time-limit=1800 || rc=1
	else
		sweep "$exe" "${common[@]}" --methods=sync,mutex,rwlock,hogwild,leashed --threads=1,2,4 --batch=16,128 \
			--eta=0.01 --repetitions=2 --epochs=6 --steps-per-epoch=500 --time-limit=120 || rc=1
	fi
	return $rc
}

sweep() {
	echo "+ $*"
	timeout "$train_limit" "$@"
}

report() {
	local inputs=()
	for d in "$run/bench" "$run/train"; do
		[ -n "$(find "$d" -name '*.json*' -print -quit)" ] && inputs+=("$d")
	done
	if [ ${#inputs[@]} -eq 0 ]; then
		echo "no results to report: every measuring part failed"
		return 1
	fi
	/usr/bin/python3 "$root/results/sgdsync-report" -o "$run" --title "sgdsync report ($profile, $(hostname))" "${inputs[@]}"
}

# out_root_arg FLAG VALUE: the --out directory, or exit 2 naming what is wrong with it (an empty
# one put the run directory at /). After a bare --out, a flag is not taken for the directory.
out_root_arg() {
	if [ -z "$2" ] || { [ "$1" = --out ] && [[ $2 == -* ]]; }; then
		echo "main.sh: $1: needs a directory" >&2
		exit 2
	fi
	if [ -e "$2" ] && [ ! -d "$2" ]; then
		echo "main.sh: $1: $2 is not a directory" >&2
		exit 2
	fi
	out_root=$2
}

# The whole job is one function, read in full before it runs: editing this file (a git pull)
# during a long run cannot change what the running job does.
main() {
	local command_line="$0 $*"
	while [ $# -gt 0 ]; do
		case $1 in
		--quick) profile=quick ;;
		--full) profile=full ;;
		--out) out_root_arg --out "${2:-}"; shift ;;
		--out=*) out_root_arg "$1" "${1#--out=}" ;;
		--build-dir) build=${2:?--build-dir needs a directory}; shift ;;
		--build-dir=*) build=${1#--build-dir=} ;;
		--no-deps) install_deps=0 ;;
		--resume) resume=${2:?--resume needs a run directory}; shift ;;
		--resume=*) resume=${1#--resume=} ;;
		-h | --help) usage; exit 0 ;;
		*) echo "main.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
		esac
		shift
	done

	if [ -n "$resume" ]; then
		[ -d "$resume" ] || { echo "main.sh: --resume $resume: no such directory" >&2; exit 2; }
		run=$(cd "$resume" && pwd)
	else
		run="$out_root/$(date -u +%Y-%m-%dT%H%M%SZ)"
	fi
	mkdir -p "$run/bench" "$run/train" "$run/logs" || exit 1
	pus=$(nproc)

	if [ "$profile" = full ]; then
		chunk_limit=7200
		train_limit=172800
	else
		chunk_limit=90
		train_limit=420
	fi

	say "$profile profile, $pus hardware threads; results in $run"
	{
		echo "profile: $profile"
		echo "started: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "command: $command_line"
		echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	} >>"$run/job.txt"

	if [ $install_deps -eq 1 ]; then
		part deps "$root/scripts/install-deps.sh"
	fi
	part build configure_and_build
	for b in atomics chain locks kernels; do
		part "bench-$b" bench "$b"
	done
	part train train
	part report report && say "report read $(grep -h 'problem(s)' "$run/logs/report.log" | tail -n 1 | sed 's/^sgdsync-report: //')"

	echo "finished: $(date -u +%Y-%m-%dT%H:%M:%SZ); failed parts: ${failed[*]:-none}" >>"$run/job.txt"
	ln -sfn "$(basename "$run")" "$(dirname "$run")/latest" 2>/dev/null
	# Run through sudo: hand the results (and the build) back to the user who asked for them.
	if [ -n "${SUDO_UID:-}" ] && [ "$(id -u)" -eq 0 ]; then
		chown -R "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$run" "$build" 2>/dev/null
	fi

	echo
	if [ ${#failed[@]} -gt 0 ]; then
		say "parts that failed: ${failed[*]} (logs in $run/logs/)"
	fi
	if [ -f "$run/report.html" ] && [[ ! " ${failed[*]} " =~ " report " ]]; then
		say "report:  $run/report.html"
		say "summary: $run/summary.md"
	else
		say "no report was built; results and logs are in $run"
	fi
	[ ${#failed[@]} -eq 0 ]
}

main "$@"; exit
