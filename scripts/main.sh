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
shopt -s lastpipe  # a pipeline's last command runs in this shell: progress counters survive it

root=$(cd "$(dirname "$0")/.." && pwd)
profile=quick
out_root="$root/sgdsync-results"
build="$root/build"
install_deps=1
resume=""
dry_run=0
failed=()
bench_names=(atomics chain locks kernels model)
declare -A bench_groups=() bench_exes=()
slice_names=()

usage() {
	cat <<EOF
Usage: sudo scripts/main.sh [--quick | --full] [--out DIR] [--build-dir DIR] [--no-deps] [--resume RUNDIR]
                           [--dry-run]

  --quick          default: small grids, 0.1 s per benchmark; 3-4 minutes on an idle 2-core
                   machine, up to 10 on a loaded one
  --full           the study: the benchmarks' full grids and training slices over every axis
                   (method x threads x batch, step size, backoff, placement, step-size policy,
                   persistence, architecture, lock kind), repetitions; estimated 2.6 h on 2 cores
  --out DIR        where the run directory goes (default: $out_root)
  --build-dir DIR  CMake build directory (default: $build)
  --no-deps        do not run scripts/install-deps.sh (needs root or sudo otherwise)
  --resume RUNDIR  continue an interrupted run in RUNDIR: benchmarks with results are not run
                   again, the training sweep skips the configurations it has recorded
  --dry-run        print the plan (groups, runs, estimates, time limits) from the binaries in
                   the build directory; runs and creates nothing

Environment: SGDSYNC_PUS=N plans and runs for N processing units instead of this machine's
(the estimates for another machine: SGDSYNC_PUS=64 scripts/main.sh --full --dry-run).
EOF
}

say() { printf 'sgdsync: %s\n' "$*"; }

# part NAME COMMAND...: runs one part with its output in logs/NAME.log; a failure is recorded
# and shown, never fatal. The part's progress lines go to the console (fd 3).
part() {
	local name=$1 log="$run/logs/$1.log" rc
	shift
	part_start=$(date +%s)
	shown_at=$part_start
	say "$name ..."
	echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) $name" >>"$log"  # a resumed run appends
	"$@" >>"$log" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		say "$name: ok ($(($(date +%s) - part_start)) s)"
	else
		say "$name: FAILED (exit $rc$([ $rc -eq 124 ] && echo ', time limit'), $(($(date +%s) - part_start)) s); log: $log"
		# The lines that say what went wrong, else the end of the log.
		{ grep -E -m 8 'error|FAILED|not built|No such' "$log" || tail -n 8 "$log"; } | sed 's/^/    | /'
		failed+=("$name")
	fi
	return $rc
}

# progress PART WHAT LAST EST_DONE EST_LEFT: a console line at most every 30 s. The ETA is the
# estimate left, scaled by how long the finished work took against its estimate.
progress() {
	local now eta=$5
	now=$(date +%s)
	[ $((now - shown_at)) -lt 30 ] && return
	shown_at=$now
	[ "$4" -gt 0 ] && eta=$(($5 * (now - part_start) / $4))
	say "$1: $2, ETA $(duration "$eta"), last: $3" >&3
}

duration() {
	if [ "$1" -lt 120 ]; then echo "$1 s"
	elif [ "$1" -lt 7200 ]; then echo "$((($1 + 30) / 60)) min"
	else awk -v s="$1" 'BEGIN { printf "%.1f h\n", s / 3600 }'
	fi
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

# ---- the plan: every part in groups that fit their time limits, with estimates ----
#
# The cost model, in seconds, from a loaded 2-vCPU KVM guest: a benchmark runs its repetitions
# of min_time, about one more while Google Benchmark sizes its iteration count, and 0.35 s of
# threads, setup and counters (at 0.1 s x 3 repetitions, threads 1, 2, 4: 84 chain publishes in
# 46 to 58 s, 96 ttas locks in 73 s, 36 rw locks in 35 s); a benchmark process takes 1 s to
# start. A run that stalls gives up at the run limit (oversubscribed FIFO locks), so a group's
# limit allows every run of it to: each benchmark's repetitions and its sizing run. A training
# run takes 1 s to start, load the data and evaluate, then its epochs, and at most its time
# limit. Seconds per epoch of Fashion-MNIST at one thread, batch 16 (the slowest; 2 threads take
# 0.6 of it), on an idle 2-vCPU guest: mlp:3x128 0.45, cnn 1.9, lenet over 3 (its 5 epochs ran
# into their 15 s limit). On a loaded machine every run may take its whole limit: the plan
# prints that bound beside the estimate, and the slices' time limits allow it. Build and
# report: 6 minutes.
bench_setup_s=0.35
bench_start_s=1
train_start_s=1
train_epoch_s="mlp=0.45 cnn=1.9 lenet=3.5"
fixed_s=360

# Full: 3 repetitions of 0.1 s per benchmark, a run limit of 1 s, groups of at most 90 s (a
# killed group loses only itself), and training runs of 5 epochs cut at 5 s (cnn, lenet: 15 s).
profile_settings() {
	if [ "$profile" = full ]; then
		bench_reps=3 bench_min_time=0.1 bench_run_limit=1 group_target_s=90 train_time_s=5 train_reps=3
	else
		bench_reps=1 bench_min_time=0.1 group_target_s=0 chunk_limit=90 train_limit=420
	fi
}

bench_flags() {
	flags=(--counters=auto --benchmark_out_format=json --benchmark_min_time="$bench_min_time")
	if [ "$profile" = full ]; then
		flags+=(--grid=full --threads="$(full_threads)" --benchmark_repetitions="$bench_reps"
			--run-limit="$bench_run_limit")
	else
		flags+=(--grid=default)
		# The binaries' default thread counts oversubscribe the machine (4x its hardware
		# threads); locks that hand over to a preempted waiter (ticket) then take minutes per
		# benchmark, so the quick suite keeps locks within the hardware threads; the model too,
		# to stay near 30 s (80 benchmarks in 22 s on a loaded 2-vCPU guest).
		case "$1" in locks | model) flags+=(--threads="$(printf '%s\n' 1 2 "$pus" | sort -nu | paste -sd,)") ;; esac
	fi
}

# split_groups MAX: benchmark names on stdin, "COUNT PREFIX" per group on stdout. Each name goes
# to its shortest prefix of two or more /-segments that no more than MAX names share (else to
# itself): the groups are disjoint, cover the list and keep its order.
split_groups() {
	awk -F/ -v max="$1" '
	{ name[NR] = $0; p = $1; for (d = 2; d <= NF; d++) { p = p "/" $d; count[p]++ } }
	END {
		for (i = 1; i <= NR; i++) {
			n = split(name[i], s, "/"); p = s[1]
			for (d = 2; d <= n; d++) { p = p "/" s[d]; if (count[p] <= max) break }
			if (!(p in size)) order[++groups] = p
			size[p]++
		}
		for (g = 1; g <= groups; g++) print size[order[g]], order[g]
	}'
}

# plan_bench NAME EXE: the binary's groups, "COUNT EST LIMIT PREFIX" lines in bench_groups[NAME].
plan_bench() {
	local cost max
	bench_flags "$1"
	cost=$(awk -v r="$bench_reps" -v t="$bench_min_time" -v s="$bench_setup_s" 'BEGIN { print (r + 1) * t + s }')
	max=$(awk -v g="$group_target_s" -v c="$cost" -v s="$bench_start_s" 'BEGIN { printf "%d", (g > 0 ? (g - s) / c : 1e9) }')
	bench_groups[$1]=$("$2" "${flags[@]}" --benchmark_list_tests 2>/dev/null | grep / | split_groups "$max" |
		awk -v c="$cost" -v s="$bench_start_s" -v fixed="${chunk_limit:-0}" \
			-v stall="$(((bench_reps + 1) * ${bench_run_limit:-0}))" '{
			est = s + $1 * c
			printf "%d %d %d %s\n", $1, est + 0.5, (fixed > 0 ? fixed : 2 * est + $1 * stall + 60), $2
		}')
}

# valid_values OPTION: the values sgdsync-train lists when it refuses one ("(valid: a, b, c)"),
# without the parametrised spellings (tail:amplitude=A).
valid_values() {
	"$train_exe" --"$1"='?' 2>&1 | sed -n 's/.*(valid: \(.*\))$/\1/p' | tr -d ' ' | tr , '\n' |
		grep -v '[=:]' | paste -sd,
}

placements() {
	local n list=local,interleave
	for n in /sys/devices/system/node/node[0-9]*; do
		[ -d "$n" ] && list="$list,node:${n##*node}"
	done
	echo "$list"
}

# The study (full): a base point (mlp:3x128, batch 128, step 0.01, no backoff, default lock,
# unbounded persistence, local memory, constant step) and slices that each cross methods and
# threads with one axis varied around it, as the Chalmers study's figures do. Every lock kind,
# backoff policy and step policy comes from sgdsync-train itself, the read-write locks from
# sgdsync-bench-locks (its read_pct rows), the nodes from the machine. A run two slices share
# runs once: the sweep skips the keys its output holds.
study_slices() {
	local all=sync,mutex,rwlock,hogwild,leashed locks backoffs policies rwlocks
	locks=$(valid_values lock) backoffs=$(valid_values backoff) policies=$(valid_values step-policy)
	rwlocks=$("$(find_binary sgdsync-bench-locks)" --benchmark_list_tests 2>/dev/null | grep read_pct |
		cut -d/ -f2 | grep -xF -f <(tr , '\n' <<<"$locks") | sort -u | paste -sd,)
	if [ -z "$locks" ] || [ -z "$backoffs" ] || [ -z "$policies" ] || [ -z "$rwlocks" ]; then
		echo "main.sh: cannot list the lock kinds, backoff and step policies (sgdsync-train --lock=?)" \
			"or the read-write locks (sgdsync-bench-locks --benchmark_list_tests)" >&2
		return 1
	fi
	train_base=(--data=fashion-mnist --arch=mlp:3x128 --batch=128 --eta=0.01 --epochs=5
		--threads="$(full_threads)" --repetitions="$train_reps" --time-limit="$train_time_s")
	slice_names=(batch eta backoff placement step-policy persistence arch lock rwlock-lock)
	slice_args=(
		"--methods=$all --batch=16,64,128,256,1024"
		"--methods=$all --eta=0.001,0.005,0.01,0.05"
		"--methods=mutex,rwlock,leashed --backoff=$backoffs"
		"--methods=$all --placement=$(placements)"
		"--methods=mutex,rwlock,hogwild,leashed --step-policy=$policies"
		"--methods=leashed --persistence=0,1,2,4,16"
		"--methods=$all --arch=cnn,lenet --time-limit=$((3 * train_time_s))"
		"--methods=mutex --lock=default,$locks"
		"--methods=rwlock --lock=default,$rwlocks"
	)
}

# The quick profile: every method at 1, 2 and 4 threads and batch 16 and 128, one slice.
quick_slices() {
	train_base=(--data=fashion-mnist --arch=mlp:3x128)
	slice_names=(quick)
	slice_args=("--methods=sync,mutex,rwlock,hogwild,leashed --threads=1,2,4 --batch=16,128 --eta=0.01 --repetitions=2 --epochs=6 --steps-per-epoch=500 --time-limit=120")
}

# slice_flag I NAME: the value of --NAME in slice I (its own flags override the base's).
slice_flag() {
	tr ' ' '\n' <<<"${train_base[*]} ${slice_args[$1]}" | sed -n "s/^--$2=//p" | tail -n 1
}

# plan_train: each slice's runs not planned before it (nor recorded, on --resume), estimate
# (runs x their time limit and start) and limit, in slice_runs/est/limit.
plan_train() {
	local i key mark limit n
	local -A planned=()
	if [ "$profile" = full ]; then
		study_slices || return
	else
		quick_slices
	fi
	for i in "${!slice_names[@]}"; do
		# shellcheck disable=SC2086 # the slice's flags hold no spaces
		if ! "$sweep_exe" --dry-run "${train_base[@]}" ${slice_args[$i]} --output="$run/train/sweep.jsonl" >"$plan_tmp"; then
			slice_names=()
			return 1
		fi
		n=0
		while read -r key mark _; do
			[ -n "${planned[$key]:-}" ] && continue
			planned[$key]=1
			[ "$mark" = "(done)" ] || n=$((n + 1))
		done <"$plan_tmp"
		limit=$(slice_flag "$i" time-limit) slice_runs[$i]=$n
		slice_est[$i]=$(awk -v n="$n" -v t="$limit" -v s="$train_start_s" -v e="$(slice_flag "$i" epochs)" \
			-v archs="$(slice_flag "$i" arch)" -v costs="$train_epoch_s" 'BEGIN {
			split(costs, kv, " "); for (k in kv) { split(kv[k], p, "="); c[p[1]] = p[2] }
			m = split(archs, a, ",")
			for (j = 1; j <= m; j++) {
				sub(/:.*/, "", a[j]); r = (a[j] in c) ? s + e * c[a[j]] : t + s
				sum += r < t + s ? r : t + s
			}
			printf "%d", n * sum / m + 0.5
		}')
		slice_max[$i]=$(awk -v n="$n" -v t="$limit" -v s="$train_start_s" 'BEGIN { printf "%d", n * (t + s) + 0.5 }')
		# A hung run is killed at its limit plus the sweep's 120 s of grace.
		slice_limit[$i]=${train_limit:-$((2 * slice_max[$i] + ${limit%.*} + 180))}
		[ "${slice_limit[$i]}" -ge "${slice_max[$i]}" ] || slice_max[$i]=${slice_limit[$i]}
	done
}

# plan: every part's groups and slices from the built binaries; 1 when one is missing.
plan() {
	local b exe
	train_exe=$(find_binary sgdsync-train) sweep_exe=$(find_binary sgdsync-sweep)
	for b in "${bench_names[@]}"; do
		exe=$(find_binary "sgdsync-bench-$b")
		bench_exes[$b]=$exe
		if [ -z "$exe" ]; then
			echo "main.sh: sgdsync-bench-$b is not built in $build" >&2
			bench_groups[$b]=""
			continue
		fi
		plan_bench "$b" "$exe"
	done
	if [ -z "$train_exe" ] || [ -z "$sweep_exe" ]; then
		echo "main.sh: sgdsync-train or sgdsync-sweep is not built in $build" >&2
		return 1
	fi
	plan_tmp=$(mktemp) || return
	plan_train
	local rc=$?
	rm -f "$plan_tmp"
	return $rc
}

# print_plan VERBOSE: the plan's sizes and estimates; VERBOSE adds every group and slice.
print_plan() {
	local b i total=$fixed_s most=$fixed_s n groups left est limit g
	say "plan: $profile profile, $pus PUs, threads $(full_threads), placements $(placements)"
	for b in "${bench_names[@]}"; do
		read -r n groups < <(awk 'NF { n += $1; g++ } END { print n + 0, g + 0 }' <<<"${bench_groups[$b]}")
		read -r left est < <(bench_left "$b" | awk '{ g++; e += $2 } END { print g + 0, e + 0 }')
		say "$(printf '  %-20s %6d benchmarks in %3d groups, est %s' "bench-$b" "$n" "$groups" "$(duration "$est")")$(
			[ "$left" -lt "$groups" ] && echo ", $((groups - left)) kept")"
		[ "$1" -eq 1 ] && [ -n "${bench_groups[$b]}" ] && while read -r n i limit g; do
			echo "    group bench-$b $g count=$n est=$i limit=$limit"
		done <<<"${bench_groups[$b]}"
		total=$((total + est)) most=$((most + est))
	done
	for i in "${!slice_names[@]}"; do
		say "$(printf '  %-20s %6d runs, est %s, at most %s' "train ${slice_names[$i]}" "${slice_runs[$i]}" \
			"$(duration "${slice_est[$i]}")" "$(duration "${slice_max[$i]}")")"
		[ "$1" -eq 1 ] && echo "    slice train ${slice_names[$i]} runs=${slice_runs[$i]} est=${slice_est[$i]} limit=${slice_limit[$i]}: ${train_base[*]} ${slice_args[$i]}"
		total=$((total + slice_est[i])) most=$((most + slice_max[i]))
	done
	say "  total est $total s ($(duration "$total"); at most $(duration "$most") with every training run at its time limit; build and report $(duration "$fixed_s"))"
}

group_json() {
	echo "$run/bench/sgdsync-bench-$1/${2//\//_}.json"
}

# bench_left NAME: the binary's groups without results yet (all but on --resume).
bench_left() {
	local n est limit g
	[ -n "${bench_groups[$1]}" ] || return 0
	while read -r n est limit g; do
		[ -s "$(group_json "$1" "$g")" ] || echo "$n $est $limit $g"
	done <<<"${bench_groups[$1]}"
}

# bench NAME: one micro-benchmark binary over its planned groups, one run (and one JSON file
# under bench/<binary>/) per group, each under its own time limit, so that a group that hangs
# or is killed loses only its own results and --resume runs only the groups without results.
# A finished run's JSON is moved into place; a killed one stays in logs/.
bench() {
	local name="sgdsync-bench-$1" exe=${bench_exes[$1]} n est limit g out tmp rc=0 i=0 groups
	local est_done=0 est_left=0 last=started
	if [ -z "$exe" ]; then
		echo "$name: not built (see logs/build.log)"
		return 1
	fi
	if [ -z "${bench_groups[$1]}" ]; then
		echo "$name: lists no benchmarks"
		return 1
	fi
	bench_flags "$1"
	groups=$(wc -l <<<"${bench_groups[$1]}")
	mkdir -p "$run/bench/$name"
	est_left=$(bench_left "$1" | awk '{ e += $2 } END { print e + 0 }')
	while read -r n est limit g; do
		i=$((i + 1))
		out=$(group_json "$1" "$g")
		tmp="$run/logs/$name-${g//\//_}.json.partial"
		[ -s "$out" ] && { echo "$g: kept from the interrupted run"; continue; }
		echo "+ $exe ${flags[*]} --benchmark_filter=^$(regex_quote "$g")(/|\$)  # $n benchmarks, est $est s, limit $limit s"
		timeout "$limit" "$exe" "${flags[@]}" --benchmark_filter="^$(regex_quote "$g")(/|\$)" --benchmark_out="$tmp" </dev/null
		local status=$?
		if [ $status -eq 0 ]; then
			mv "$tmp" "$out"
			last=ok
		else
			last="$g FAILED (exit $status$([ $status -eq 124 ] && echo ", over the ${limit} s limit"))"
			echo "$name: $last"
			rc=1
		fi
		est_done=$((est_done + est)) est_left=$((est_left - est))
		progress "bench-$1" "group $i/$groups" "$last" "$est_done" "$est_left"
	done <<<"${bench_groups[$1]}"
	return $rc
}

regex_quote() {
	sed 's/[][\.^$*+?(){}|]/\\&/g' <<<"$1"
}

# The training sweeps: the profile's slices, each a sweep under its own time limit. Each
# configuration runs in its own process, so a crash is an outcome; every slice appends to one
# JSON Lines file and skips what it holds, so --resume continues where a run stopped.
train() {
	local i rc=0 runs=0 est_left=0
	train_done=0 train_est_done=0
	if [ -z "$sweep_exe" ] || [ ${#slice_names[@]} -eq 0 ]; then
		echo "sgdsync-sweep: not built or no training plan (see logs/build.log and the console)"
		return 1
	fi
	for i in "${!slice_names[@]}"; do
		runs=$((runs + slice_runs[i])) est_left=$((est_left + slice_est[i]))
	done
	for i in "${!slice_names[@]}"; do
		[ "${slice_runs[$i]}" -gt 0 ] || continue
		echo "+ timeout ${slice_limit[$i]} $sweep_exe ${train_base[*]} ${slice_args[$i]} --output=$run/train/sweep.jsonl"
		# shellcheck disable=SC2086 # the slice's flags hold no spaces
		timeout "${slice_limit[$i]}" "$sweep_exe" "${train_base[@]}" ${slice_args[$i]} \
			--output="$run/train/sweep.jsonl" 2>&1 </dev/null |
			sweep_progress "${slice_names[$i]}" $((slice_est[i] / (slice_runs[i] > 0 ? slice_runs[i] : 1))) "$runs" "$est_left"
		[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
		est_left=$((est_left - slice_est[i]))
	done
	return $rc
}

# sweep_progress SLICE EST_PER_RUN RUNS EST_LEFT: the sweep's lines into the log, and progress on
# the console: runs done of the part's total, ETA, the last run's outcome.
sweep_progress() {
	local line n=0
	while IFS= read -r line; do
		printf '%s\n' "$line"
		[[ $line =~ ^sgdsync-sweep:\ [0-9]+/[0-9]+\ [^\ ]+:\ ([a-z-]+) ]] || continue
		n=$((n + 1)) train_done=$((train_done + 1)) train_est_done=$((train_est_done + $2))
		progress train "run $train_done/$3 (slice $1)" "${BASH_REMATCH[1]}" "$train_est_done" \
			$(($4 - n * $2 > 0 ? $4 - n * $2 : 1))
	done
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
		--dry-run) dry_run=1 ;;
		-h | --help) usage; exit 0 ;;
		*) echo "main.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
		esac
		shift
	done

	pus=${SGDSYNC_PUS:-$(nproc)}
	if ! [[ $pus =~ ^[1-9][0-9]{0,4}$ ]]; then
		echo "main.sh: SGDSYNC_PUS=$pus: not a number of processing units (1 to 99999)" >&2
		exit 2
	fi
	profile_settings
	if [ -n "$resume" ]; then
		[ -d "$resume" ] || { echo "main.sh: --resume $resume: no such directory" >&2; exit 2; }
		run=$(cd "$resume" && pwd)
	else
		run="$out_root/$(date -u +%Y-%m-%dT%H%M%SZ)"
	fi
	if [ $dry_run -eq 1 ]; then
		plan || exit 1
		print_plan 1
		exit 0
	fi
	mkdir -p "$run/bench" "$run/train" "$run/logs" || exit 1
	exec 3>&1  # the console, for progress lines from inside a part

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
	# The plan comes from the binaries just built; it goes to plan.txt in full, and the full
	# profile shows its sizes and estimate before it starts.
	plan
	print_plan 1 >"$run/plan.txt"
	[ "$profile" = full ] && print_plan 0
	for b in "${bench_names[@]}"; do
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
