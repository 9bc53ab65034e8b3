"""Numbers behind the report: grouping runs into configurations, spreads over repetitions,
scaling losses and the counters that move with them. No plotting, no formatting."""

import json
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass

from . import METHODS

# Config keys that identify a repetition rather than a configuration.
REPETITION_KEYS = ("seed",)
# How a config key is written in a label, in this order after method and threads.
LABEL_KEYS = (("arch", "arch"), ("batch", "batch"), ("eta", "η"), ("step_policy", "step"),
              ("backoff", "backoff"), ("lock", "lock"), ("persistence", "B"), ("alloc", "alloc"),
              ("pinning", "pin"), ("placement", "mem"), ("data", "data"), ("epochs", "epochs"),
              ("steps_per_epoch", "steps"), ("counters", "counters"), ("time_limit_s", "limit"),
              ("targets", "targets"))


def spread(values):
    """(median, min, max, n) of the finite values; Nones if there are none."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None, None, 0
    return statistics.median(vals), min(vals), max(vals), len(vals)


def method_order(method):
    return METHODS.index(method) if method in METHODS else len(METHODS)


# ---- training runs ----

def config_key(config, drop=()):
    """A hashable identity of a configuration: every key but the seed (and `drop`)."""
    return json.dumps({k: v for k, v in config.items() if k not in REPETITION_KEYS and k not in drop},
                      sort_keys=True)


def varying_keys(runs):
    """Config keys (besides method, threads and the seed) whose value differs between runs."""
    values = defaultdict(set)
    for run in runs:
        for k, v in run.config.items():
            values[k].add(json.dumps(v, sort_keys=True))
    keys = {k for k, vs in values.items() if len(vs) > 1 or any(k not in r.config for r in runs)}
    return [k for k, _ in LABEL_KEYS if k in keys] + sorted(keys - {k for k, _ in LABEL_KEYS}
                                                           - {"method", "threads", *REPETITION_KEYS})


def label(config, keys, with_method=True, with_threads=True):
    short = dict(LABEL_KEYS)
    parts = []
    if with_method:
        parts.append(str(config.get("method", "?")))
    if with_threads:
        parts.append(f"{config.get('threads', '?')} thr")
    for k in keys:
        if k in config:
            v = config[k]
            parts.append(f"{short.get(k, k)}={v if not isinstance(v, list) else ','.join(map(str, v))}")
    return " ".join(parts)


def _sortable(v):
    """Numbers before strings, numbers by value (batch 16 before 128)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (0, v, "")
    return (1, 0, json.dumps(v, sort_keys=True))


def sort_key(config):
    rest = sorted(k for k in config if k not in ("method", "threads"))
    return (method_order(config.get("method")), config.get("threads", 0),
            tuple(_sortable(config[k]) for k in rest))


def configurations(runs):
    """[(config, [runs])] grouped by config_key, in method, threads order."""
    groups = {}
    for run in runs:
        groups.setdefault(config_key(run.config), (run.config, []))[1].append(run)
    return sorted(groups.values(), key=lambda g: sort_key(g[0]))


def families(runs, keys, drop):
    """Groups runs by the varying keys not in `drop` (e.g. one family per batch size when
    comparing methods over threads): [(family label, [runs])]."""
    rest = [k for k in keys if k not in drop]
    fams = {}
    for run in runs:
        fam = label(run.config, rest, with_method="method" not in drop, with_threads="threads" not in drop)
        fams.setdefault(fam, []).append(run)
    return sorted(fams.items(), key=lambda f: sort_key(f[1][0].config))


def updates_per_s(run):
    if run.result is None:
        return None
    return run.result["totals"].get("updates_per_s")


def histogram_fraction(hists):
    """Sums histograms {counts, overflow} and returns (values, fractions, overflow fraction)."""
    total = []
    overflow = 0
    for h in hists:
        counts = h.get("counts") or []
        if len(counts) > len(total):
            total += [0] * (len(counts) - len(total))
        for i, c in enumerate(counts):
            total[i] += c
        overflow += h.get("overflow") or 0
    n = sum(total) + overflow
    if n == 0:
        return [], [], 0.0
    return list(range(len(total))), [c / n for c in total], overflow / n


def histogram_mean(h):
    if h.get("mean") is not None:
        return h["mean"]
    counts = h.get("counts") or []
    n = sum(counts)
    return sum(i * c for i, c in enumerate(counts)) / n if n else None


def cas_stats(result):
    """(mean CAS attempts per publish, fraction of publishes that needed more than one,
    dropped fraction of gradients) of one leashed run; None where not recorded."""
    cas = result.get("cas_attempts")
    totals = result["totals"]
    applied, dropped = totals.get("applied", 0), totals.get("dropped", 0)
    drop_frac = dropped / (applied + dropped) if applied + dropped else None
    if not cas:
        return None, None, drop_frac
    counts = cas.get("counts") or []
    n = sum(counts) + (cas.get("overflow") or 0)
    retried = (n - (counts[1] if len(counts) > 1 else 0) - (counts[0] if counts else 0)) / n if n else None
    return histogram_mean(cas), retried, drop_frac


def per_update_counters(result):
    """{"phase:counter": value per update} plus each counter summed over the phases
    ("all:counter"), from counters.per_update."""
    counters = (result.get("counters") or {}).get("per_update") or {}
    flat, total = {}, defaultdict(float)
    for phase, values in counters.items():
        for name, v in (values or {}).items():
            if v is None:
                continue
            flat[f"{phase}:{name}"] = v
            total[name] += v
    if len(counters) > 1:
        flat.update({f"all:{name}": v for name, v in total.items()})
    return flat


def contention_metrics(result):
    """What moves with contention in a training run: counters per update, staleness, CAS
    retries, dropped gradients."""
    flat = per_update_counters(result)
    summed = {k[len("all:"):] + "/update": v for k, v in flat.items() if k.startswith("all:")}
    m = summed or {k + "/update": v for k, v in flat.items()}
    st = result.get("staleness")
    if st:
        m["staleness mean"] = histogram_mean(st)
    cas_mean, _, drop = cas_stats(result)
    if cas_mean is not None:
        m["CAS attempts/publish"] = cas_mean
    if drop is not None and result.get("cas_attempts"):
        m["dropped fraction"] = drop
    return m


# ---- scaling and hot spots ----

def scaling_loss(points, pus):
    """points: {threads: throughput}. Returns [(threads, throughput, ideal, lost fraction)] for
    thread counts above 1, where ideal = throughput at 1 thread x min(threads, pus): a machine
    cannot scale past its processing units, so oversubscription is held to that ceiling."""
    base = points.get(1)
    if not base or base <= 0:
        return []
    out = []
    for n in sorted(points):
        if n <= 1 or points[n] is None:
            continue
        ideal = base * min(n, pus or n)
        out.append((n, points[n], ideal, max(0.0, 1.0 - points[n] / ideal)))
    return out


def moved_counters(at1, atn, top=3):
    """The counters that changed most between one thread and n threads, by the size of the
    log ratio (a counter appearing from zero ranks first). [(name, before, after)]"""
    moves = []
    for name in set(at1) & set(atn):
        a, b = at1[name], atn[name]
        if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
            continue
        if a == b:
            continue
        if a <= 0 or b <= 0:
            score = math.inf if max(a, b) > 0 else 0
        else:
            score = abs(math.log(b / a))
        moves.append((score, name, a, b))
    moves.sort(key=lambda m: (-m[0], m[1]))
    return [(name, a, b) for score, name, a, b in moves[:top] if score > math.log(1.1)]


def median_dicts(dicts):
    """Key-wise median of several {name: value} dicts."""
    keys = set().union(*dicts) if dicts else set()
    return {k: spread([d.get(k) for d in dicts])[0] for k in keys}


# ---- micro-benchmarks ----

def bench_series(points):
    """{series name: {threads: [points]}} in first-seen order; the same benchmark measured on
    two machines is two series (BenchPoint.series names the machine)."""
    series = {}
    for p in points:
        if p.error is None:
            series.setdefault(p.series, defaultdict(list))[p.threads].append(p)
    return series


def series_parts(p, drop=()):
    machine = [f"on {p.machine_name}"] if p.machine_name else []
    return list(p.variant) + [f"{k}:{v}" for k, v in p.params.items() if k not in drop] + machine


def series_label(p, drop=()):
    """What tells a series apart inside its primitive: variant parts and key=value arguments."""
    return " ".join(series_parts(p, drop)) or p.primitive or p.name


def distinct_labels(parts_lists):
    """Labels that keep only what differs between series, and what they all share:
    [["a", "cs=64"], ["b", "cs=64"]] -> ("cs=64", ["a", "b"])."""
    if not parts_lists:
        return "", []
    common = [x for x in parts_lists[0] if all(x in parts for parts in parts_lists[1:])]
    labels = [" ".join(x for x in parts if x not in common) for parts in parts_lists]
    if len(parts_lists) == 1:
        common, labels = [], [" ".join(parts_lists[0])]
    return " ".join(common), labels


def backoff_groups(points):
    """Series that differ only in their backoff argument, grouped: {(topic, primitive, rest):
    {backoff: {threads: [throughputs]}}}. Only groups with at least two policies."""
    groups = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for p in points:
        if p.error is None and "backoff" in p.params and p.throughput:
            rest = series_label(p, drop=("backoff",))
            groups[(p.topic, p.primitive, rest)][p.params["backoff"]][p.threads].append(p)
    return {k: v for k, v in groups.items() if len(v) > 1}


def backoff_name(spec):
    return spec.split(":", 1)[0]


def is_no_backoff(spec):
    return backoff_name(spec) == "none"


def split_series(items, params_of, limit=8):
    """Splits series too many for one panel by the argument with the most values, until no
    panel holds more than `limit`: [(fixed arguments, items)]."""
    if len(items) <= limit:
        return [({}, items)]
    values = defaultdict(set)
    for it in items:
        for k, v in params_of(it).items():
            values[k].add(v)
    varying = [k for k, vs in values.items() if len(vs) > 1]
    if not varying:
        return [({}, items)]
    key = max(varying, key=lambda k: (len(values[k]), k))
    groups = {}
    for it in items:
        groups.setdefault(params_of(it).get(key), []).append(it)
    out = []
    for v, members in groups.items():
        for fixed, sub in split_series(members, lambda it: {k: x for k, x in params_of(it).items() if k != key}, limit):
            out.append(({key: v, **fixed}, sub))
    return out


# ---- our locks beside their peers ----

# Each of our locks and the peer sgdsync-bench-locks runs beside it (harness/bench_locks.c):
# (ours, its backoff, peer, the peer's backoff). ttas's exp:base=8,cap=16384 is ck_backoff_eb's
# schedule in time.
LOCK_PEERS = (
    ("mcs", "none", "ck_mcs", "none"),
    ("clh", "none", "ck_clh", "none"),
    ("cohort", "none", "ck_cohort", "none"),
    ("cohort", "none", "ck_hclh", "none"),
    ("ticket", "none", "ck_ticket", "none"),
    ("ttas", "none", "ck_fas", "none"),
    ("ttas", "exp:base=8,cap=16384", "ck_fas", "ck_eb"),
    ("rw", "none", "ck_rwlock", "none"),
    ("mutex", "none", "pthread_mutex", "none"),
    ("pthread-rw", "none", "pthread_rwlock", "none"),
)
PEER_TARGET = 0.95  # issue 10: each of ours at least 0.95x its peer


@dataclass
class PeerCell:
    ours: str                 # "mcs/backoff:none"
    peer: str
    args: str                 # the other arguments, "cs:0"
    threads: int
    machine: str
    ours_median: float
    peer_median: float
    ratio: float              # median of the paired ratios, or the ratio of the medians
    lo: float                 # the spread of the paired ratios, or of every pair of samples
    hi: float
    paired: int               # repetitions paired by file and index (0: none could be)


def _lock_cells(points):
    """{(lock, backoff): {(args, threads, machine): [points]}} of the lock runs that measured."""
    cells = defaultdict(lambda: defaultdict(list))
    for p in points:
        if p.topic == "locks" and p.error is None and p.throughput:
            args = " ".join(f"{k}:{v}" for k, v in p.params.items() if k != "backoff")
            cells[(p.primitive, p.params.get("backoff"))][(args, p.threads, p.machine_name)].append(p)
    return cells


def _paired(ours, peer):
    """ours ÷ peer of the repetitions with the same index in the same file: with Google
    Benchmark's random interleaving these ran in the same round, under the same load."""
    peer_by = {(p.source, p.repetition): p.throughput for p in peer}
    return [p.throughput / peer_by[(p.source, p.repetition)] for p in ours
            if (p.source, p.repetition) in peer_by]


def peer_cells(points):
    """Every cell (arguments, threads, machine) where one of ours and its peer both measured."""
    cells, out = _lock_cells(points), []
    for lock, bo, peer, peer_bo in LOCK_PEERS:
        mine, theirs = cells.get((lock, bo), {}), cells.get((peer, peer_bo), {})
        for key in sorted(set(mine) & set(theirs), key=lambda k: (k[2], k[0], k[1])):
            a = [p.throughput for p in mine[key]]
            b = [p.throughput for p in theirs[key]]
            pairs = _paired(mine[key], theirs[key])
            ma, mb = statistics.median(a), statistics.median(b)
            if len(pairs) >= 3:
                ratio, lo, hi = statistics.median(pairs), min(pairs), max(pairs)
            else:
                pairs = []
                ratio, lo, hi = ma / mb, min(a) / max(b), max(a) / min(b)
            out.append(PeerCell(f"{lock}/backoff:{bo}", f"{peer}/backoff:{peer_bo}", key[0], key[1], key[2],
                                ma, mb, ratio, lo, hi, len(pairs)))
    return out
