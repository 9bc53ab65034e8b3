#!/usr/bin/python3
"""Writes the synthetic fixture results of tests/results/fixtures/ (deterministic: a fixed seed).

  counters/   a two-socket NUMA machine whose PMU works: likwid and perf hardware counters
  compare/    A and B with known ratios, for sgdsync-compare's test
  bad/        malformed, wrong-version, mixed-version and incomplete files

The numbers follow a simple contention model (universal scalability law) so that the plots look
like measurements; they are not measurements. Run it from anywhere: python3 make_fixtures.py.

fixtures/no-counters/ is real output of the sgdsync binaries on the project's KVM machine (no
hardware counters), trimmed from runs of scripts/main.sh by
    python3 make_fixtures.py --capture BENCH_RUN_DIR TRAIN_RUN_DIR
(a few benchmarks of each binary, every training run with its loss curve thinned)."""

import glob
import json
import math
import os
import random
import re
import sys

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
RNG = random.Random(20261125)

ENV = {
    "cpu_model": "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz", "kernel": "Linux 6.1.0-13-amd64 x86_64",
    "hostname": "numa-box", "compiler": "GCC 12.2.0", "cflags": "-O3 -DNDEBUG -march=x86-64",
    "build_type": "Release",
    "topology": {"packages": 2, "numa_nodes": 2, "cores": 40, "pus": 80,
                 "caches": [{"level": 1, "type": "data", "size_bytes": 32768, "count": 40},
                            {"level": 2, "type": "unified", "size_bytes": 1048576, "count": 40},
                            {"level": 3, "type": "unified", "size_bytes": 28835840, "count": 2}]},
    "placement": {"pinning": "compact", "memory": "local", "note": ""},
    "versions": {"sgdsync": "0.1.0", "benchmark": "1.7.1", "hwloc": "2.9.0", "likwid": "5.2.2",
                 "openblas": "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX"},
    "counters": {"requested": "auto", "used": ["software", "perf", "likwid"], "skipped": []},
    "system": {"governor": "performance", "boost": False, "thp": "madvise", "smt": True, "unavailable": {}},
    "blas": {"core_detected": "Prescott", "core_used": "SkylakeX", "core_best": "SkylakeX", "chosen_by": "sgdsync",
             "note": "OPENBLAS_CORETYPE=SkylakeX set by sgdsync: OpenBLAS chose Prescott"},
    "git_commit": "5f3c2e1", "date": "2026-11-20T09:12:00Z", "command_line": "",
}
THREADS = (1, 2, 4, 8, 16, 32, 64)


def usl(t1, n, s, k, pus=80):
    """Throughput of n threads under the universal scalability law, flat past the PUs."""
    m = min(n, pus)
    return t1 * m / (1 + s * (m - 1) + k * m * (m - 1)) * (0.97 ** max(0, math.log2(n / pus)) if n > pus else 1)


def noisy(x, rel=0.03):
    return x * (1 + RNG.uniform(-rel, rel))


def write(path, obj, lines=False):
    path = os.path.join(HERE, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        if lines:
            f.writelines(json.dumps(o, separators=(",", ":")) + "\n" for o in obj)
        else:
            json.dump(obj, f, indent=1)
            f.write("\n")


def bench_doc(binary, rows, env=ENV):
    e = dict(env, command_line=f"{binary} --benchmark_out={binary}.json --benchmark_out_format=json")
    return {"context": {"date": "2026-11-20T09:12:00+00:00", "host_name": e["hostname"],
                        "executable": f"./build/harness/{binary}", "num_cpus": e["topology"]["pus"],
                        "mhz_per_cpu": 2100, "cpu_scaling_enabled": False, "library_build_type": "release",
                        "sgdsync_format": "sgdsync-bench", "sgdsync_version": "1",
                        "sgdsync_environment": json.dumps(e)},
            "benchmarks": rows}


def bench_row(name, threads, ops, counters, rep=0, reps=1):
    return dict({"name": name, "run_name": name, "run_type": "iteration", "repetitions": reps,
                 "repetition_index": rep, "threads": threads, "iterations": int(ops * 0.2),
                 "real_time": 1e9 / ops, "cpu_time": threads * 1e9 / ops, "time_unit": "ns",
                 "items_per_second": ops}, **counters)


def aggregates(name, threads, values, reps):
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / max(1, len(values) - 1))
    out = []
    for agg, v in (("mean", mean), ("median", sorted(values)[len(values) // 2]), ("stddev", sd)):
        out.append({"name": f"{name}_{agg}", "run_name": name, "run_type": "aggregate", "repetitions": reps,
                    "threads": threads, "aggregate_name": agg, "aggregate_unit": "time", "iterations": reps,
                    "real_time": 1e9 / v if agg != "stddev" else sd, "cpu_time": 0.0, "time_unit": "ns",
                    "items_per_second": v})
    return out


def atomics():
    rows = []
    specs = {"cas/order:seq_cst/slot:hot": (60e6, 0.6, 0.02), "cas_fail/order:seq_cst/slot:hot": (90e6, 0.3, 0.01),
             "faa/order:relaxed/slot:hot": (80e6, 0.7, 0.01), "faa/order:relaxed/slot:padded": (85e6, 0.0, 0.0),
             "xchg/order:seq_cst/slot:hot": (70e6, 0.65, 0.015), "load/order:acquire/slot:hot": (400e6, 0.0, 0.0005)}
    for spec, (t1, s, k) in specs.items():
        prim, *rest = spec.split("/")
        for n in THREADS[:6]:
            name = "/".join(["atomics", prim, *rest, "real_time", f"threads:{n}"])
            vals = [noisy(usl(t1, n, s, k)) for _ in range(2)]
            hot = "hot" in spec
            for rep, v in enumerate(vals):
                c = {"latency_ns/op": n * 1e9 / v,
                     "L1D-read-misses/op": noisy(0.02 + (0.9 * (1 - 1 / n) if hot else 0.01)),
                     "LLC-read-misses/op": noisy((0.5 * (1 - 1 / n) if hot and n > 40 else 0.001 * n) + 1e-4)}
                if prim == "cas_fail":
                    c["cas_failures/op"] = 1.0
                rows.append(bench_row(name, n, v, c, rep, 2))
            rows += aggregates(name, n, vals, 2)
    return bench_doc("sgdsync-bench-atomics", rows)


def lock_counters(n, contended, spins, jain):
    return {"contended/op": contended, "spins/op": spins, "fairness_jain": jain, "share_min": jain / n,
            "share_max": min(1.0, (2 - jain) / n), "wait_ns_p50": noisy(40 + 200 * contended),
            "wait_ns_p99": noisy(400 + 9000 * contended)}


def lock_peers():
    """mcs beside ck_mcs, 1.02x in each of 3 repetitions whose load swings 2.5x (the paired ratio
    stays exact); clh beside ck_clh, one repetition, below 0.95x from 2 threads (0.9499x there,
    which two decimals would round up to the target). No noise."""
    rows = []
    for lock, peer, ratios, loads in (("mcs", "ck_mcs", (1.02,) * 4, (1.0, 0.4, 0.9)),
                                      ("clh", "ck_clh", (1.0, 0.9499, 0.9, 0.85), (1.0,))):
        for n, ratio in zip(THREADS, ratios):
            for name, r in ((lock, ratio), (peer, 1.0)):
                bench = f"locks/{name}/backoff:none/cs:64/real_time/threads:{n}"
                rows += [bench_row(bench, n, 20e6 / n * load * r, {"contended/op": 1 - 1 / n}, rep, len(loads))
                         for rep, load in enumerate(loads)]
    return rows


def locks():
    rows = []
    base = {"tas": (40e6, 0.9, 0.06), "ttas": (40e6, 0.8, 0.03), "ticket": (35e6, 0.85, 0.05)}
    backoff = {"none": (1.0, 1.0), "exp": (0.93, 0.25), "jitter": (0.92, 0.2), "yield": (0.85, 0.5)}
    for lock, (t1, s, k) in base.items():
        for bo, (c1, kk) in backoff.items():
            for n in THREADS:
                ops = noisy(usl(t1 * c1, n, s * (0.6 + 0.4 * kk), k * kk))
                contended = min(0.98, (1 - 1 / n) * (0.9 if bo == "none" else 0.5))
                c = lock_counters(n, contended, noisy(contended * 40 * kk + 0.01), max(0.3, 1 - 0.01 * n * kk))
                c.update({"backoff_pauses/op": 0.0 if bo in ("none", "yield") else noisy(contended * 300),
                          "L1D-read-misses/op": noisy(0.3 + 2.5 * contended),
                          "LLC-read-misses/op": noisy(0.1 + 1.2 * contended * (2 if n > 40 else 1)),
                          "context-switches/op": noisy(0.0001 + (0.05 if bo == "yield" else 0))})
                rows.append(bench_row(f"locks/{lock}/backoff:{bo}/cs:64/real_time/threads:{n}", n, ops, c))
    for lock, (t1, s, k) in {"pthread_mutex": (20e6, 0.9, 0.01), "rw": (18e6, 0.5, 0.004)}.items():
        for n in THREADS:
            name = f"locks/{lock}/backoff:none/cs:64/" + ("read_pct:90/" if lock == "rw" else "") + \
                f"real_time/threads:{n}"
            c = lock_counters(n, (1 - 1 / n) * 0.7, 0.0, 0.99)
            c.update({"L1D-read-misses/op": noisy(0.5 + (1 - 1 / n)), "LLC-read-misses/op": noisy(0.2 + 0.5 * (1 - 1 / n)),
                      "context-switches/op": noisy(0.3 * (1 - 1 / n) + 0.001)})
            rows.append(bench_row(name, n, noisy(usl(t1, n, s, k)), c))
    rows += lock_peers()
    rows.append({"name": "locks/ck_fas/backoff:none/cs:64/real_time/threads:1", "run_name":
                 "locks/ck_fas/backoff:none/cs:64/real_time/threads:1", "run_type": "iteration", "repetitions": 1,
                 "repetition_index": 0, "threads": 1, "iterations": 0, "real_time": 0.0, "cpu_time": 0.0,
                 "time_unit": "ns", "error_occurred": True,
                 "error_message": "Concurrency Kit locks use inline assembly that ThreadSanitizer cannot see"})
    return bench_doc("sgdsync-bench-locks", rows)


def chain():
    rows = []
    for size, t1 in ((1024, 3e6), (131072, 4e4)):
        for bo in ("none", "exp"):
            for n in THREADS[:6]:
                k = 0.02 if bo == "none" else 0.008
                attempts = 1 + (n - 1) * (0.5 if bo == "none" else 0.25)
                rows.append(bench_row(f"chain/publish/alloc:pool/backoff:{bo}/persist:inf/size:{size}/work_ns:0"
                                      f"/real_time/threads:{n}", n, noisy(usl(t1, n, 0.4, k)), {
                                          "cas_attempts/op": noisy(attempts, 0.02),
                                          "cas_failures/op": noisy(attempts - 1, 0.02), "dropped/op": 0.0,
                                          "live_vectors_peak": min(2 * n + 1, n + 2),
                                          "LLC-read-misses/op": noisy(size / 16 * (1 + 0.1 * n))}))
        rows.append(bench_row(f"chain/memcpy/size:{size}/real_time/threads:1", 1, noisy(t1 * 1.2), {}))
    return bench_doc("sgdsync-bench-chain", rows)


def kernels():
    """mlp:3x128 by batch on a 2.1 GHz AVX-512 core (peak 134 GFLOP/s): the gradient's share of
    sgemm and of the peak both grow with the batch."""
    peak, rows = 134.4e9, []
    for batch, grad, frac in ((16, 38e9, 0.86), (128, 80e9, 0.92), (512, 95e9, 0.95)):
        flops = 2 * 3 * (784 * 128 + 2 * 128 * 128 + 128 * 10) * batch
        g = noisy(grad)
        sg = noisy(g / frac)
        rows.append(bench_row(f"kernels/net:mlp:3x128/batch:{batch}/real_time/threads:1", 1, g / flops, {
            "grad_flop/s": g, "sgemm_flop/s": sg, "sgemm_fraction": g / sg, "peak_fraction": g / peak}))
    doc = bench_doc("sgdsync-bench-kernels", rows)
    doc["context"].update({"sgdsync_fp32_peak_flop/s": f"{peak:g}", "sgdsync_fp32_peak_isa": "avx512"})
    return doc


METHOD_SCALING = {"sync": (0.55, 0.02), "mutex": (0.7, 0.03), "rwlock": (0.6, 0.02), "hogwild": (0.05, 0.0005),
                  "leashed": (0.12, 0.001)}


def histogram(samples, bucket_limit=1024):
    counts = [0] * (max(samples) + 1 if samples else 0)
    for s in samples:
        counts[s] += 1
    srt = sorted(samples)
    return {"counts": counts, "overflow": 0, "overflow_from": bucket_limit,
            "mean": sum(samples) / len(samples), "p50": srt[len(srt) // 2], "p99": srt[int(0.99 * (len(srt) - 1))],
            "max": srt[-1]}


def poisson(lam):
    if lam <= 0:
        return 0
    l, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= RNG.random()
        if p <= l:
            return k
        k += 1


def train_result(cfg, outcome, env, detail=""):
    n, batch, method = cfg["threads"], cfg["batch"], cfg["method"]
    s, k = METHOD_SCALING[method]
    ups = noisy(usl(20000 / batch * 16 / (1 + batch / 64), n, s, k))
    tau = 0.0 if method == "sync" else (n - 1) * (0.9 if method != "leashed" else 1.1)
    init = noisy(2.302, 0.002)
    per_epoch = 60000 // batch
    total = per_epoch * cfg["epochs"]
    speed = 1 / (1 + 0.03 * tau) * (batch / 64) ** 0.5
    stop = total
    if outcome == "diverged":
        stop = int(total * 0.3)
    def loss_at(u):
        if outcome == "diverged" and u > stop * 0.7:
            return init * (1 + 5 * (u - stop * 0.7) / stop)
        floor = 0.18 if outcome != "not-converged" else 0.62
        return noisy(init * (floor + (1 - floor) * math.exp(-u * speed / 600)), 0.01)
    curve = [{"updates": u, "wall_s": round(u / ups, 4), "loss": round(loss_at(u), 4)}
             for u in range(0, stop + 1, max(1, stop // 12))]
    if outcome == "diverged":
        curve.append({"updates": stop, "wall_s": round(stop / ups, 4), "loss": None})
    epochs = []
    for e in range(1, cfg["epochs"] + 1):
        u = e * per_epoch
        if u > stop:
            break
        l = loss_at(u - per_epoch / 2)
        epochs.append({"epoch": e, "updates": u, "wall_s": round(u / ups, 4), "train_loss": round(l, 4),
                       "test_loss": round(l * 1.05, 4), "test_accuracy": round(min(0.9, 1 - l / 2.6), 4),
                       "updates_per_s": round(noisy(ups, 0.02), 1)})
    targets = []
    for f in cfg["targets"]:
        hit = next((ep for ep in epochs if ep["train_loss"] <= f * init), None)
        targets.append({"fraction": f, "loss": round(f * init, 4), "reached": hit is not None,
                        "wall_s": hit["wall_s"] if hit else None, "updates": hit["updates"] if hit else None})
    samples = [poisson(tau) for _ in range(400)]
    cas = None
    applied, dropped = stop, 0
    if method == "leashed":
        p_fail = min(0.9, 0.05 * (n - 1))
        att = []
        for _ in range(400):
            a = 1
            while RNG.random() < p_fail and (cfg["persistence"] == 0 or a < cfg["persistence"]):
                a += 1
            att.append(a)
        cas = histogram(att)
        cas["counts"][0] = 0
        if cfg["persistence"]:
            dropped = int(applied * p_fail ** cfg["persistence"])
    contention = (0 if method in ("sync", "hogwild") else 1) * (1 - 1 / n)
    per_update = {}
    for phase, scale, cpu_ns in (("read", 1.0, 2000), ("gradient", 8.0, 120000 * batch / 64), ("apply", 1.5, 3000)):
        locked = phase != "gradient" and method == "mutex"
        per_update[phase] = {
            "task-clock-ns": noisy(cpu_ns * (1 + (3 if phase != "gradient" else 0) * contention)),
            "context-switches": noisy(0.002 + 0.25 * contention * locked),
            "L1D-read-misses": noisy(3000 * scale * (1 + 0.5 * contention)),
            "LLC-read-misses": noisy(200 * scale * (1 + (2 if n > 40 else 0.3) * (1 - 1 / n))),
            "likwid:NUMA:remote-bytes": noisy(400 * scale * (0.05 + (n > 40) * 1.5 * (1 - 1 / n)))}
    env = dict(env, date="2026-11-20T10:00:00Z",
               command_line=f"sgdsync-train --method {method} --threads {n} --batch {batch}")
    return {"format": "sgdsync-train", "version": 1, "environment": env, "config": cfg, "outcome": outcome,
            "outcome_detail": detail, "initial_loss": round(init, 4), "epochs": epochs, "curve": curve,
            "targets": targets,
            "totals": {"applied": applied, "dropped": dropped, "wall_s": round(stop / ups, 3), "updates_per_s": round(ups, 1)},
            "staleness": histogram(samples), "cas_attempts": cas,
            "per_thread": [{"thread": i, "applied": applied // n, "cpu": i} for i in range(n)],
            "memory": {"peak_rss_bytes": 180000000 + 1000000 * n,
                       "peak_live_vectors": min(2 * n + 1, n + 3) if method == "leashed" else None},
            "counters": {"per_update": per_update, "unavailable": []}}


def config(method, threads, batch, seed, persistence=0, eta=0.01, epochs=4):
    return {"method": method, "threads": threads, "backoff": "none", "lock": "default", "persistence": persistence,
            "alloc": "pool", "batch": batch, "eta": eta, "step_policy": "none", "arch": "mlp:3x128",
            "data": "fashion-mnist", "epochs": epochs, "steps_per_epoch": 0, "seed": seed,
            "targets": [0.5, 0.25], "pinning": "compact", "placement": "local", "counters": "auto",
            "time_limit_s": 600}


def sweep_record(cfg, rep, outcome, env, detail="", signal=None):
    crashed = outcome in ("crashed", "timeout")
    result = None if crashed else train_result(cfg, outcome, env, detail)
    key = f"{cfg['method']}-t{cfg['threads']}-b{cfg['batch']}-r{rep}"
    return {"format": "sgdsync-sweep", "version": 1, "key": key, "config": cfg, "repetition": rep,
            "outcome": outcome, "exit_status": None if signal else (0 if not crashed else 124),
            "signal": signal, "wall_s": result["totals"]["wall_s"] + 0.4 if result else 600.0, "result": result}


SPECIAL = {("hogwild", 16, 16, 1): ("diverged", "loss 13.8 above 5x the initial at update 5400", None),
           ("mutex", 16, 16, 0): ("crashed", "", 11),
           ("rwlock", 16, 128, 1): ("timeout", "", 9),
           ("sync", 16, 16, 0): ("not-converged", "budget spent at 0.41 of the initial loss", None)}


def sweep(env, threads, batches, reps):
    recs = []
    for batch in batches:
        for method in METHOD_SCALING:
            for n in threads:
                for rep in range(reps):
                    outcome, detail, sig = SPECIAL.get((method, n, batch, rep), ("converged", "", None))
                    recs.append(sweep_record(config(method, n, batch, 1 + rep), rep, outcome, env, detail, sig))
    return recs


def counters_set():
    write("counters/sgdsync-bench-atomics.json", atomics())
    write("counters/sgdsync-bench-locks.json", locks())
    write("counters/sgdsync-bench-chain.json", chain())
    write("counters/sgdsync-bench-kernels.json", kernels())
    recs = sweep(ENV, (1, 4, 16), (16, 128), 2)
    write("counters/train/sweep.jsonl", recs, lines=True)
    # the same run as a sweep record, read twice: counted once
    write("counters/train/leashed-t4-b16-r0.json", next(r["result"] for r in recs if r["key"] == "leashed-t4-b16-r0"))


CAPTURED = re.compile(r"^(atomics/(faa|cas_ok)/order:seq_cst/slot:(shared|padded)/"
                      r"|locks/(ttas|tas|mutex|pthread_mutex|ck_fas)/backoff:[^/]+/cs:16/"
                      r"|chain/publish/alloc:pool/backoff:(none|exp)/persist:inf/size:(1024|131072)/work_ns:0/"
                      r"|chain/memcpy/size:(1024|131072)/|kernels/net:mlp:3x128/)")


def capture_no_counters(bench_run, train_run):
    """Real output trimmed: one Google Benchmark file per binary holding the benchmarks that
    CAPTURED selects, and the sweep with every 5th point of each loss curve."""
    docs = {}
    for path in sorted(glob.glob(os.path.join(bench_run, "bench", "*", "*.json"))):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        binary = os.path.basename(os.path.dirname(path))
        keep = [b for b in doc["benchmarks"] if CAPTURED.match(b["name"])]
        docs.setdefault(binary, {"context": doc["context"], "benchmarks": []})["benchmarks"] += keep
    for binary, doc in docs.items():
        if doc["benchmarks"]:
            write(f"no-counters/{binary}.json", doc)
    recs = []
    with open(os.path.join(train_run, "train", "sweep.jsonl"), encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec["result"]:
                rec["result"]["curve"] = rec["result"]["curve"][::5]
            recs.append(rec)
    write("no-counters/sweep.jsonl", recs, lines=True)


def compare_set():
    env = dict(ENV, counters={"requested": "none", "used": ["software"], "skipped": []})
    for side, scale in (("A", 1.0), ("B", 2.0)):
        rows = []
        for n, base in ((1, 100e6), (2, 50e6)):
            name = f"atomics/faa/slot:shared/real_time/threads:{n}"
            f = scale if n == 1 else 1.0
            for rep, v in enumerate((base, base * 1.1, base * 0.9)):
                rows.append(bench_row(name, n, v * f, {}, rep, 3))
        write(f"compare/{side}/bench.json", bench_doc("sgdsync-bench-atomics", rows, env))
        recs = []
        for rep, ups in enumerate((1000.0, 1100.0, 900.0)):
            cfg = config("leashed", 2, 64, 1 + rep)
            res = train_result(cfg, "converged", env)
            res["totals"]["updates_per_s"] = ups / scale
            res["targets"] = [{"fraction": 0.5, "loss": 1.15, "reached": True, "wall_s": 10.0 * ups / 1000 / scale,
                               "updates": 500}]
            recs.append({"format": "sgdsync-sweep", "version": 1, "key": f"leashed-r{rep}", "config": cfg,
                         "repetition": rep, "outcome": "converged", "exit_status": 0, "signal": None,
                         "wall_s": 20.0, "result": res})
        write(f"compare/{side}/sweep.jsonl", recs, lines=True)


def bad_set():
    good = train_result(config("hogwild", 2, 64, 1, epochs=2), "converged", ENV)
    path = os.path.join(HERE, "bad")
    os.makedirs(path, exist_ok=True)
    write("bad/good-train.json", good)
    text = json.dumps(good)
    with open(os.path.join(path, "truncated.json"), "w") as f:
        f.write(text[: len(text) // 2])
    write("bad/version2-train.json", dict(good, version=2))
    missing = {k: v for k, v in good.items() if k != "outcome"}
    write("bad/missing-outcome.json", missing)
    env_missing = dict(good, environment={k: v for k, v in ENV.items() if k != "cpu_model"})
    write("bad/env-missing-cpu.json", env_missing)
    rec = sweep_record(config("mutex", 2, 64, 1, epochs=2), 0, "converged", ENV)
    lines = [json.dumps(rec), json.dumps(dict(rec, version=2, key="v2")), '{"format": "sgdsync-sweep", "vers']
    with open(os.path.join(path, "mixed-versions.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    write("bad/plain-gbench.json", {"context": {"date": "x"}, "benchmarks": []})
    write("bad/unknown-format.json", {"format": "something-else", "version": 1})


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--capture":
        capture_no_counters(sys.argv[2], sys.argv[3])
        sys.exit(0)
    counters_set()
    compare_set()
    bad_set()
