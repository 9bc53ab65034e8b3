#!/usr/bin/env bash
# sgdsync-sweep --slurm against a real single-node Slurm: munged, slurmctld and slurmd started here
# as root with a generated slurm.conf in a temporary folder (nothing in /etc is touched). A grid of
# 6 runs goes out as an array of 3 tasks; while they run, task 0 gets the time-limit warning
# (SIGUSR1), task 1 is cancelled (SIGTERM) and task 2 is killed outright (SIGKILL, as when its node
# is lost). --resume then records task 2's lost run and submits the runs with no record. Every run
# must end with exactly one record, the three stopped ones as timeout / crashed / crashed, and
# sgdsync-report must cover all six.
#
# Usage: test_slurm.sh SWEEP_EXE REPORT_SCRIPT STEPS (a run's updates: about 3 s of them). Exit 77 (skipped) where Slurm cannot start here:
# not root, the packages missing, or the daemons not up within 60 s.
set -uo pipefail
sweep=$1
report=$2
steps=$3
skip() { echo "SKIP: $*" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || skip "Slurm's daemons need root (run as root: scripts/test.sh does)"
for exe in munged mungekey slurmctld slurmd sbatch squeue scancel sinfo; do
    command -v "$exe" >/dev/null || PATH=$PATH:/usr/sbin command -v "$exe" >/dev/null ||
        skip "$exe not found: install slurmctld slurmd slurm-client munge (scripts/install-deps.sh)"
done
export PATH=$PATH:/usr/sbin

state=$(mktemp -d /tmp/sgdsync-test-slurm-XXXXXX)
chmod 755 "$state"
pids=()
# The step daemons of this cluster's jobs: those whose environment names its slurm.conf.
our_stepds() {
    for pid in $(pgrep -x slurmstepd); do
        tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "SLURM_CONF=$state/slurm.conf" && echo "$pid"
    done
}
cleanup() {
    scancel --user="$(id -un)" 2>/dev/null
    for _ in $(seq 40); do [ -z "$(squeue --noheader 2>/dev/null)" ] && break; sleep 0.5; done
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    # A step daemon still reporting its job's end to a slurmd gone would linger.
    sleep 1
    for pid in $(our_stepds); do kill -KILL "$pid" 2>/dev/null; done
    [ -f "$state/munge/pid" ] && kill "$(cat "$state/munge/pid")" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$state"
}
trap cleanup EXIT

# ---- the cluster: one node, this machine's CPUs ----
host=$(hostname -s)
port=$((20000 + $$ % 20000)) # two tests on one machine take different ports
mkdir -p "$state/munge" "$state/spool" "$state/ctld" "$state/work"
chmod 700 "$state/munge"
mungekey -c -k "$state/munge/munge.key" -b 1024 || skip "mungekey could not make a key"
munged -f --key-file="$state/munge/munge.key" --socket="$state/munge/socket" \
    --pid-file="$state/munge/pid" --log-file="$state/munge/log" --seed-file="$state/munge/seed" ||
    skip "munged did not start: $(tail -3 "$state/munge/log" 2>/dev/null)"
mem=$(free -m | awk '/^Mem:/ {print int($2 * 0.8)}')
cat >"$state/slurm.conf" <<EOF
ClusterName=sgdsync-test
SlurmctldHost=$host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$state/munge/socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
KillWait=10
NodeName=$host CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$state/slurm.conf
slurmctld -D -f "$SLURM_CONF" >"$state/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" -N "$host" >"$state/slurmd.out" 2>&1 &
pids+=($!)
up=""
for _ in $(seq 60); do
    [ "$(sinfo --noheader --Node --format=%t 2>/dev/null)" = idle ] && { up=1; break; }
    sleep 1
done
[ -n "$up" ] || skip "slurmctld/slurmd not up within 60 s: $(tail -3 "$state/slurmctld.log" "$state/slurmd.log" 2>/dev/null)"
echo "Slurm up: node $host, $(nproc) CPUs, port $port"

# ---- the grid: 6 runs of about 3 s each, 2 per task ----
cd "$state/work"
args=(--output study.jsonl --methods=sync --threads=1 --seeds=1,2,3,4,5,6 --data=synthetic
      --arch=mlp:1x16 --steps="$steps" --counters=none --quiet)
"$sweep" "${args[@]}" --slurm --dry-run --tasks=3 >dry.sh || fail "--slurm --dry-run failed"
grep -q '^#SBATCH --array=0-2$' dry.sh || fail "dry run: no 3-task array in $(cat dry.sh)"
[ ! -e study.jsonl.submit-1.runs ] || fail "--dry-run wrote the runs file"
"$sweep" "${args[@]}" --slurm --tasks=3 --cpus-per-task=1 || fail "submission failed"
job=$(cat study.jsonl.submit-1.job)

# Waits up to 60 s for a file.
wait_for() {
    for _ in $(seq 600); do [ -e "$1" ] && return 0; sleep 0.1; done
    fail "no $1 after 60 s: $(squeue; cat ./*.out 2>/dev/null)"
}
wait_for study.jsonl.submit-1.shard-0.running
wait_for study.jsonl.submit-1.shard-1.running
scancel --batch --signal=USR1 "${job}_0" || fail "scancel USR1 ${job}_0"
scancel "${job}_1" || fail "scancel ${job}_1"
wait_for study.jsonl.submit-1.shard-2.running
scancel --batch --signal=KILL "${job}_2" || fail "scancel KILL ${job}_2"
lost=$(cat study.jsonl.submit-1.shard-2.running)

wait_gone() {
    for _ in $(seq 240); do [ -z "$(squeue --noheader --jobs="$1" 2>/dev/null)" ] && return 0; sleep 0.5; done
    fail "job $1 still queued after 120 s"
}
wait_gone "$job"
"$sweep" "${args[@]}" --slurm >again.txt 2>&1 && fail "a second submission without --resume was accepted"
grep -q -- '--resume' again.txt || fail "no hint at --resume: $(cat again.txt)"
"$sweep" "${args[@]}" --slurm --resume || fail "--resume failed"
job2=$(cat study.jsonl.submit-2.job)
[ "$(wc -w <study.jsonl.submit-2.runs)" -eq 3 ] ||
    fail "resume submitted $(wc -w <study.jsonl.submit-2.runs) runs, expected the 3 never started"
wait_gone "$job2"
"$sweep" "${args[@]}" --slurm --resume 2>done.txt || fail "a third --resume failed"
grep -q 'nothing to submit' done.txt || fail "third --resume: $(cat done.txt)"

# ---- every run once, the stopped ones as stopped ----
/usr/bin/python3 - "$lost" study.jsonl.submit-*.shard-*.jsonl <<'EOF' || fail "records"
import collections, json, sys
lost, files = sys.argv[1], sys.argv[2:]
recs = [json.loads(l) for f in files for l in open(f) if l.strip()]
keys = collections.Counter(r["key"] for r in recs)
assert len(keys) == 6 and set(keys.values()) == {1}, f"keys: {keys}"
outcomes = collections.Counter(r["outcome"] for r in recs)
assert outcomes["timeout"] == 1 and outcomes["crashed"] == 2, outcomes
timeout = [r for r in recs if r["outcome"] == "timeout"]
assert "time limit" in timeout[0].get("reason", ""), timeout
lost_rec = [r for r in recs if r["key"] == lost]
assert lost_rec and lost_rec[0]["outcome"] == "crashed" and "died" in lost_rec[0]["reason"], lost_rec
print("records:", dict(outcomes))
EOF
ls study.jsonl.submit-*.running 2>/dev/null && fail "a running mark was left"
# In the sanitizer builds a task's report would go to its output only.
if grep -l 'Sanitizer\|runtime error' study.jsonl.submit-*.task-*.out; then
    fail "a task's sweep: $(grep -h -A5 'Sanitizer\|runtime error' study.jsonl.submit-*.task-*.out)"
fi
/usr/bin/python3 "$report" -o report . >report.txt 2>&1 || fail "sgdsync-report: $(cat report.txt)"
grep -q 'of 6 runs\.\*\*' report/summary.md || fail "the report does not cover the 6 runs: $(grep -A3 '## Outcomes' report/summary.md)"
grep -q '2 crashed, 1 timeout of 6 runs' report/summary.md || fail "report outcomes: $(grep -A3 '## Outcomes' report/summary.md)"
echo "PASS: 6 runs, one record each, across $(ls study.jsonl.submit-*.shard-*.jsonl | wc -l) shard files"
