"""The report's sections, from a Dataset to doc.Report. Every section says in one line when
the inputs hold nothing for it."""

import datetime
import re
from collections import defaultdict

from . import OUTCOMES, analysis as an, plots
from .doc import Empty, Figure, Para, Report, Section, Table, fmt, si

MAX_FIGURES = 6          # per section; the tables still list everything
MAX_HOTSPOTS = 15
THREADS = "threads (log₂ scale)"


class Context:
    def __init__(self, ds):
        self.ds = ds
        self.keys = an.varying_keys(ds.runs)
        self.results = [r for r in ds.runs if r.result is not None]

    def pus(self, env_id):
        env = self.ds.envs.get(env_id)
        return env.data["topology"]["pus"] if env else None


def build(ds, title="sgdsync report"):
    ctx = Context(ds)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    report = Report(title, now, ds.inputs, ds.errors, len(ds.duplicates))
    for make in (hotspots, throughput, kernels, backoff, peers, methods, cas, staleness, loss_curves,
                 time_to_target, outcomes, counters, environment):
        report.sections.append(make(ctx))
    return report


def _median_line(label, by_threads, color=None, **kw):
    """A line over thread counts: median of each count's values, bars from min to max."""
    xs = sorted(by_threads)
    stats = [an.spread(by_threads[t]) for t in xs]
    return plots.Line(label, xs, [s[0] for s in stats], [s[1] for s in stats], [s[2] for s in stats],
                      color=color, **kw)


def _add_grid(section, panels, what, caption, ylabel, xlabel=THREADS, limit=MAX_FIGURES * 2, **grid_kw):
    """The panels (at most `limit`) as one figure, and a line saying how many were left out."""
    shown = panels[:limit]
    section.add(Figure(plots.grid(shown, xlabel, ylabel, **grid_kw), caption, caption))
    _more_note(section, len(shown), len(panels), what)


def _method_panel(title, samples):
    """A panel with one line per method over thread counts, from (method, threads, value)
    samples; also returns {method: {threads: [values]}}."""
    by_m = defaultdict(lambda: defaultdict(list))
    for method, threads, value in samples:
        by_m[method][threads].append(value)
    order = sorted(by_m, key=an.method_order)
    return plots.Panel(title, [_median_line(m, by_m[m], plots.METHOD_COLORS.get(m)) for m in order
                               if any(v is not None for vs in by_m[m].values() for v in vs)]), by_m


def _more_note(section, shown, total, what):
    if total > shown:
        section.add(Para(f"Plots show the first {shown} of {total} {what}; the tables list all."))


# ---- contention hot spots ----

def hotspots(ctx):
    s = Section("hotspots", "Contention hot spots",
                "Configurations ranked by the throughput they lose against ideal linear scaling from "
                "one thread (ideal = one-thread throughput × min(threads, processing units): a machine "
                "cannot scale past its hardware threads), at the thread count where they lose most. "
                "Beside each, the counters that moved most between one thread and that count.")
    rows = _train_hotspots(ctx) + _bench_hotspots(ctx)
    if not rows:
        s.add(Empty("No configuration was measured at one thread and at more: nothing to rank."))
        return s
    summary = []
    for kind, unit in (("training", "updates/s"), ("micro-benchmark", "ops/s")):
        ranked = sorted((r for r in rows if r["kind"] == kind), key=lambda r: -r["lost"])
        if not ranked:
            s.add(Empty(f"No {kind} configuration was measured at one thread and at more."))
            continue
        s.add(Table(["#", "configuration", "threads", f"1 thread ({unit})", f"n threads ({unit})", "ideal",
                     "lost", "counters that moved most (1 thread → n)"],
                    [[i + 1, r["label"], r["n"], si(r["t1"]), si(r["tn"]), si(r["ideal"]), _pct(r["lost"]),
                      "; ".join(f"{c} {fmt(a)} → {fmt(b)}" for c, a, b in r["moved"]) or "–"]
                     for i, r in enumerate(ranked[:MAX_HOTSPOTS])],
                    caption=f"{kind.capitalize()}: the {min(len(ranked), MAX_HOTSPOTS)} configurations that lose "
                            f"most (median over repetitions)."))
        top = ranked[0]
        summary.append(f"{top['label']} reaches {_pct(1 - top['lost'])} of ideal at {top['n']} threads")
        s.add(Figure(plots.grid([plots.Panel(f"parallel efficiency, {kind}", [
            plots.Line(f"#{i + 1} {r['label']}", sorted(r["eff"]), [r["eff"][t] for t in sorted(r["eff"])],
                       color=plots.CYCLE[i % len(plots.CYCLE)]) for i, r in enumerate(ranked[:8])],
            hlines=((1.0, "ideal"),))], THREADS, "throughput ÷ ideal", ylog=False, ylim=(0, 1.15), cols=1,
            shared_legend=True, panel_w=8.0),
            f"{kind.capitalize()}: parallel efficiency (throughput ÷ ideal) of the configurations that lose most.",
            "parallel efficiency plot"))
    s.summary = "Worst: " + "; ".join(summary) + "."
    return s


def _pct(x):
    return f"{100 * x:.2g} %" if x < 0.1 else f"{100 * x:.0f} %"


def _efficiency(points, pus):
    base = points.get(1)
    return {n: v / (base * min(n, pus or n)) for n, v in points.items() if base and v is not None}


def _bench_hotspots(ctx):
    rows = []
    for name, by_t in an.bench_series(ctx.ds.bench).items():
        pts = {t: an.spread([p.throughput for p in ps])[0] for t, ps in by_t.items()}
        first = next(iter(by_t.values()))[0]
        pus = ctx.pus(first.env)
        loss = an.scaling_loss(pts, pus)
        if not loss:
            continue
        n, tn, ideal, lost = max(loss, key=lambda r: r[3])
        moved = an.moved_counters(an.median_dicts([p.counters for p in by_t[1]]),
                                  an.median_dicts([p.counters for p in by_t[n]]))
        rows.append(dict(label=name, kind="micro-benchmark", n=n, t1=pts[1], tn=tn, ideal=ideal,
                         lost=lost, moved=moved, eff=_efficiency(pts, pus)))
    return rows


def _train_hotspots(ctx):
    rows = []
    for fam, runs in an.families(ctx.results, ctx.keys, drop=("threads",)):
        by_t = defaultdict(list)
        for r in runs:
            by_t[r.config["threads"]].append(r)
        pts = {t: an.spread([an.updates_per_s(r) for r in rs])[0] for t, rs in by_t.items()}
        pus = ctx.pus(runs[0].env)
        loss = an.scaling_loss(pts, pus)
        if not loss:
            continue
        n, tn, ideal, lost = max(loss, key=lambda r: r[3])
        moved = an.moved_counters(an.median_dicts([an.contention_metrics(r.result) for r in by_t[1]]),
                                  an.median_dicts([an.contention_metrics(r.result) for r in by_t[n]]))
        rows.append(dict(label=fam, kind="training", n=n, t1=pts[1], tn=tn, ideal=ideal, lost=lost,
                         moved=moved, eff=_efficiency(pts, pus)))
    return rows


# ---- micro-benchmarks ----

def throughput(ctx):
    s = Section("throughput", "Throughput vs threads, every primitive",
                "Operations per second of all threads together, median over repetitions (bars: "
                "min–max). One panel per primitive, one line per variant.")
    bench = ctx.ds.bench
    failed = [p for p in bench if p.error is not None]
    if not bench:
        s.add(Empty("No micro-benchmark results in the inputs."))
        return s
    topics = list(dict.fromkeys(p.topic for p in bench if p.error is None))
    for topic in topics:
        series = an.bench_series([p for p in bench if p.topic == topic])
        by_prim = defaultdict(list)
        for name, by_t in series.items():
            by_prim[next(iter(by_t.values()))[0].primitive].append((name, by_t))
        panels = []
        rows = []
        for prim, all_members in by_prim.items():
            for fixed, members in an.split_series(all_members, lambda m: m[1][min(m[1])][0].params):
                firsts = [by_t[min(by_t)][0] for _, by_t in members]
                common, labels = an.distinct_labels([an.series_parts(p, drop=fixed) for p in firsts])
                common = " ".join([f"{k}:{v}" for k, v in fixed.items()] + ([common] if common else []))
                colors = plots.palette(labels)
                lines = []
                for lab, (name, by_t) in zip(labels, members):
                    vals = {t: [p.throughput for p in ps] for t, ps in by_t.items()}
                    lines.append(_median_line(lab if len(members) > 1 else "", vals, colors[lab]))
                    t1, tmax = min(vals), max(vals)
                    m1, mmax = an.spread(vals[t1])[0], an.spread(vals[tmax])[0]
                    rows.append([name, t1, si(m1), tmax, si(mmax),
                                 fmt(mmax / m1) if m1 and mmax and tmax != t1 else "–"])
                panels.append(plots.Panel(prim + (f" ({common})" if common else ""), lines))
        s.add(Figure(plots.grid(panels, THREADS, "throughput (ops/s)", suptitle=topic),
                     f"{topic}: throughput against threads.", f"{topic} throughput plot"))
        s.add(Table(["benchmark", "fewest threads", "ops/s", "most threads", "ops/s", "ratio"], rows,
                    caption=f"{topic}: throughput at the fewest and the most threads measured.",
                    long=len(rows) > 12))
    if failed:
        s.add(Table(["benchmark", "file", "message"], [[p.name, p.source, p.error] for p in failed],
                    caption="Benchmarks that reported an error or skipped themselves."))
    return s


KERNEL_COUNTERS = ("grad_flop/s", "sgemm_flop/s", "sgemm_fraction", "peak_fraction")


def _blas_core(ctx, env_id):
    env = ctx.ds.envs.get(env_id)
    blas = env.data.get("blas") if env else None
    return blas["core_used"] if blas else "–"


def kernels(ctx):
    s = Section("kernels", "Gradient kernels against BLAS and the FP32 peak",
                "One thread's gradient (sgdsync-bench-kernels), median over repetitions: its FLOP/s, "
                "sgemm's on the same shapes, their ratio (sgemm fraction), and the gradient's share of "
                "the core's FP32 peak (peak fraction), which also shows a slow BLAS core. The OpenBLAS "
                "core is the one the run used.")
    series = an.bench_series([p for p in ctx.ds.bench if p.topic == "kernels" and "grad_flop/s" in p.counters])
    if not series:
        s.add(Empty("No gradient-kernel benchmarks (sgdsync-bench-kernels) in the inputs."))
        return s
    rows = []
    for name, by_t in series.items():
        points = [p for ps in by_t.values() for p in ps]
        med = {c: an.spread([p.counters.get(c) for p in points])[0] for c in KERNEL_COUNTERS}
        peak = med["grad_flop/s"] / med["peak_fraction"] if med["peak_fraction"] else None
        rows.append([name, si(med["grad_flop/s"]), si(med["sgemm_flop/s"]), fmt(med["sgemm_fraction"]),
                     fmt(med["peak_fraction"]), si(peak), _blas_core(ctx, points[0].env)])
    s.add(Table(["benchmark", "gradient FLOP/s", "sgemm FLOP/s", "sgemm fraction", "peak fraction",
                 "FP32 peak FLOP/s", "BLAS core"], rows,
                caption="Gradient kernels (– : not measured; files from before the peak probe have no "
                        "peak fraction).", long=len(rows) > 12))
    return s


NO_BASELINE = "no run without backoff to compare with"


def backoff(ctx):
    s = Section("backoff", "Backoff policies, lock by lock",
                "Each panel holds one lock (or chain) configuration with every backoff policy it was "
                "run with. A policy helps at a thread count where it beats no backoff by more than 5 %.")
    groups = an.backoff_groups(ctx.ds.bench)
    if not groups:
        s.add(Empty("No micro-benchmark was run with more than one backoff policy."))
        return s
    panels, verdicts, detail = [], [], []
    for (topic, prim, rest), by_policy in groups.items():
        title = f"{topic}/{prim}" + (f" {rest}" if rest else "")
        colors = plots.palette(list(by_policy), {p: plots.CYCLE[7] for p in by_policy if an.is_no_backoff(p)})
        lines = []
        for policy, by_t in by_policy.items():
            vals = {t: [p.throughput for p in ps] for t, ps in by_t.items()}
            lines.append(_median_line(an.backoff_name(policy) if len(by_policy) <= 8 else policy, vals,
                                      colors[policy], style="--" if an.is_no_backoff(policy) else "-"))
        panels.append(plots.Panel(title, lines))
        verdict, rows = _backoff_verdict(title, by_policy)
        verdicts.append(verdict)
        detail += rows
    _add_grid(s, panels, "lock configurations", "Throughput against threads, one line per backoff policy "
              "(dashed: none).", "throughput (ops/s)", limit=MAX_FIGURES * 3)
    s.add(Table(["configuration", "backoff helps at threads", "best gain", "backoff costs at threads"],
                verdicts, caption="Against no backoff, by the best policy at each thread count."))
    contention = any(r[6] != "–" for r in detail)
    cols = ["configuration", "threads", "none (ops/s)", "best policy", "best (ops/s)", "best ÷ none"]
    if contention:
        cols.append("contended, none → best")
    s.add(Table(cols, [r[:len(cols)] for r in detail], long=True, summary=False,
                caption="Every thread count: the best policy against none."))
    compared = [v for v in verdicts if v[1] != NO_BASELINE]
    helped = [v for v in compared if v[1] != "never"]
    s.summary = (f"Backoff helps in {len(helped)} of {len(compared)} lock configurations." if compared else
                 "No lock configuration was run without backoff to compare with.")
    return s


def _contention_counter(points):
    for p in points:
        for k in p.counters:
            if "contend" in k.lower():
                return k
    return None


def _backoff_verdict(title, by_policy):
    none = next((p for p in by_policy if an.is_no_backoff(p)), None)
    threads = sorted({t for by_t in by_policy.values() for t in by_t})
    helps, costs, best_gain, rows = [], [], None, []
    for t in threads:
        meds = {p: an.spread([x.throughput for x in by_t[t]])[0] for p, by_t in by_policy.items() if t in by_t}
        others = {p: v for p, v in meds.items() if p != none and v}
        if none is None or not meds.get(none) or not others:
            continue
        best = max(others, key=others.get)
        ratio = others[best] / meds[none]
        if ratio > 1.05:
            helps.append(t)
            if best_gain is None or ratio > best_gain[0]:
                best_gain = (ratio, best, t)
        elif ratio < 0.95:
            costs.append(t)
        pts_none, pts_best = by_policy[none][t], by_policy[best][t]
        ck = _contention_counter(pts_none + pts_best)
        cont = "–"
        if ck:
            a = an.spread([p.counters.get(ck) for p in pts_none])[0]
            b = an.spread([p.counters.get(ck) for p in pts_best])[0]
            cont = f"{ck} {fmt(a)} → {fmt(b)}"
        rows.append([title, t, si(meds[none]), an.backoff_name(best), si(others[best]), f"{ratio:.2f}×", cont])
    if none is None:
        return [title, NO_BASELINE, "–", "–"], rows
    gain = f"{best_gain[0]:.2f}× ({an.backoff_name(best_gain[1])}, {best_gain[2]} thr)" if best_gain else "–"
    return [title, ", ".join(map(str, helps)) or "never", gain, ", ".join(map(str, costs)) or "never"], rows


def peers(ctx):
    s = Section("peers", "Our locks against their peers",
                "Each of our locks beside the Concurrency Kit or pthread lock it is measured against, in "
                f"the same run: ours ÷ peer in throughput, the target being at least {an.PEER_TARGET}×. "
                "Where both have repetitions from one file, the ratio is the median of the ratios of "
                "repetitions with the same index (with random interleaving they ran in the same round, "
                "under the same load); otherwise it is the ratio of the medians, and the range spans "
                "every pair of samples.")
    cells = an.peer_cells(ctx.ds.bench)
    if not cells:
        s.add(Empty("No lock of ours was run beside its peer."))
        return s
    by_pair = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for c in cells:
        by_pair[(c.ours, c.peer, c.machine)][c.args][c.threads].append(c.ratio)
    panels = [plots.Panel(f"{ours} ÷ {peer}" + (f" on {machine}" if machine else ""),
                          [_median_line(args or "ratio", by_t) for args, by_t in by_args.items()],
                          hlines=((an.PEER_TARGET, f"{an.PEER_TARGET}×"),))
              for (ours, peer, machine), by_args in by_pair.items()]
    _add_grid(s, panels, "pairs", "Ours ÷ peer against threads, one line per critical section.",
              "ours ÷ peer", ylog=False)
    rows = [[c.ours, c.peer, c.args or "–", c.threads, si(c.ours_median), si(c.peer_median),
             _vs_target(c.ratio), f"{c.lo:.2f} – {c.hi:.2f}",
             f"{c.paired} paired" if c.paired else "medians"] for c in cells]
    s.add(Table(["ours", "peer", "arguments", "threads", "ours (ops/s)", "peer (ops/s)", "ours ÷ peer",
                 "range", "from"], rows, long=len(rows) > 15))
    below = [c for c in cells if c.ratio < an.PEER_TARGET]
    s.summary = f"Ours at least {an.PEER_TARGET}× the peer in {len(cells) - len(below)} of {len(cells)} cells"
    if below:
        named = [" ".join(x for x in (c.ours, c.args, f"{c.threads} thr") if x) + f" ({_vs_target(c.ratio)})"
                 for c in below[:6]]
        s.summary += "; below in " + ", ".join(named) + ("…" if len(below) > 6 else "")
    s.summary += "."
    unpaired = sum(1 for c in cells if not c.paired)
    if unpaired:
        s.summary += (f" {unpaired} of {len(cells)} cells compare medians of separate runs (a noisy machine "
                      "can swing them either way): pair a lock with its peer in one interleaved run "
                      "(harness/README.md, the peers comparison).")
    return s


def _vs_target(ratio: float) -> str:
    """Two decimals, or four where two would round a ratio across the target (0.9499 is below)."""
    text = f"{ratio:.2f}"
    if (float(text) >= an.PEER_TARGET) != (ratio >= an.PEER_TARGET):
        text = f"{ratio:.4f}"
    return text + "×"


# ---- training ----

def methods(ctx):
    s = Section("methods", "mutex vs rwlock vs HOGWILD! vs Leashed (and sync)",
                "Updates applied per second by training runs, all workers together, against threads: "
                "every method on the same axes, median over repetitions (bars: min–max).")
    if not ctx.results:
        s.add(Empty("No training results in the inputs."))
        return s
    fams = an.families(ctx.results, ctx.keys, drop=("method", "threads"))
    panels, rows = [], []
    for fam, runs in fams:
        panel, by_m = _method_panel(fam or "all runs", ((r.config["method"], r.config["threads"], an.updates_per_s(r))
                                                        for r in runs))
        panels.append(panel)
        for m in sorted(by_m, key=an.method_order):
            for t in sorted(by_m[m]):
                med, lo, hi, n = an.spread(by_m[m][t])
                rows.append([fam or "–", m, t, si(med), f"{si(lo)} – {si(hi)}", n])
    _add_grid(s, panels, "families", "Training throughput against threads by method.", "throughput (updates/s)")
    s.add(Table(["family", "method", "threads", "updates/s (median)", "min – max", "runs"], rows,
                long=len(rows) > 15))
    return s


def cas(ctx):
    s = Section("cas", "CAS attempts per publish and dropped updates",
                "Leashed-SGD publishes each update with one CAS, retried after a lost race up to the "
                "persistence bound; after that the gradient is dropped.")
    leashed = [r for r in ctx.results if r.result.get("cas_attempts")]
    chain_pts = [p for p in ctx.ds.bench if p.error is None and
                 any("attempt" in k.lower() or "drop" in k.lower() for k in p.counters)]
    if not leashed and not chain_pts:
        s.add(Empty("No CAS-attempt records: no Leashed training run and no chain benchmark counters."))
        return s
    if leashed:
        rows, panels = [], []
        for fam, runs in an.families(leashed, ctx.keys, drop=("threads", "method")):
            by_t = defaultdict(list)
            for r in runs:
                by_t[r.config["threads"]].append(r)
            ramp = plots.ramp(sorted(by_t))
            lines = []
            for t in sorted(by_t):
                xs, fr, _ = an.histogram_fraction([r.result["cas_attempts"] for r in by_t[t]])
                lines.append(plots.Line(f"{t} thr", xs[1:], fr[1:], color=ramp[t], marker=None, step=True))
                stats = [an.cas_stats(r.result) for r in by_t[t]]
                med = [an.spread([st[i] for st in stats]) for i in range(3)]
                dropped = sum(r.result["totals"].get("dropped", 0) for r in by_t[t])
                rows.append([fam, t, fmt(med[0][0]), fmt(med[1][0]), dropped, fmt(med[2][0]), len(by_t[t])])
            panels.append(plots.Panel(fam, lines))
        _add_grid(s, panels, "families", "Distribution of CAS attempts per successful publish (training, "
                  "Leashed), one line per thread count.", "fraction of publishes",
                  xlabel="CAS attempts per publish", limit=MAX_FIGURES, xlog2=False, ylog=True)
        s.add(Table(["family", "threads", "CAS attempts/publish", "publishes retried", "dropped updates",
                     "dropped fraction", "runs"], rows, caption="Training runs (medians over repetitions; "
                     "dropped updates summed)."))
    else:
        s.add(Empty("No Leashed training run in the inputs."))
    if chain_pts:
        _counter_vs_threads(s, chain_pts, lambda k: "attempt" in k.lower() or "drop" in k.lower(),
                            "Micro-benchmarks: CAS attempts and dropped updates against threads.")
    return s


def _counter_vs_threads(section, points, wanted, caption):
    """One panel per counter (split further when it has many series), lines per series.
    A counter that is 0 in every run gets one line of text instead of a flat plot."""
    names = sorted({k for p in points for k in p.counters if wanted(k)})
    panels = []
    for name in names:
        pts = [p for p in points if name in p.counters]
        if all(p.counters[name] == 0 for p in pts):
            section.add(Para(f"{name}: 0 in every measured run ({len(pts)} runs)."))
            continue
        series = list(an.bench_series(pts).items())
        for fixed, members in an.split_series(series, lambda m: next(iter(m[1].values()))[0].params):
            firsts = [next(iter(by_t.values()))[0] for _, by_t in members]
            common, labels = an.distinct_labels([[p.primitive] + an.series_parts(p, drop=fixed) for p in firsts])
            common = " ".join([f"{k}:{v}" for k, v in fixed.items()] + ([common] if common else []))
            colors = plots.palette(labels)
            lines = [_median_line(lab, {t: [p.counters[name] for p in ps] for t, ps in by_t.items()}, colors[lab])
                     for lab, (_, by_t) in zip(labels, members)]
            panels.append(plots.Panel(name + (f" ({common})" if common else ""), lines))
    if panels:
        ylabel = "per operation" if all(n.endswith("/op") for n in names) else "value (as named)"
        _add_grid(section, panels, "panels", caption, ylabel)


def staleness(ctx):
    s = Section("staleness", "Staleness",
                "τ of an applied update = the number of other updates that landed between the read of "
                "the parameters and the apply. Histograms merged over repetitions, by method, batch size "
                "and thread count; sync has τ = 0 by construction.")
    runs = [r for r in ctx.results if r.result.get("staleness")]
    if not runs:
        s.add(Empty("No staleness histograms in the inputs."))
        return s
    panels, rows = [], []
    for fam, fruns in an.families(runs, ctx.keys, drop=("threads",)):
        by_t = defaultdict(list)
        for r in fruns:
            by_t[r.config["threads"]].append(r)
        ramp = plots.ramp(sorted(by_t))
        lines = []
        for t in sorted(by_t):
            xs, fr, over = an.histogram_fraction([r.result["staleness"] for r in by_t[t]])
            lines.append(plots.Line(f"{t} thr", xs, fr, color=ramp[t], marker=None, step=True))
            hs = [r.result["staleness"] for r in by_t[t]]
            rows.append([fam, t, fmt(an.spread([an.histogram_mean(h) for h in hs])[0]),
                         fmt(an.spread([h.get("p50") for h in hs])[0]), fmt(an.spread([h.get("p99") for h in hs])[0]),
                         fmt(max((h.get("max") or 0) for h in hs)), f"{100 * over:.2g} %" if over else "0"])
        if fruns[0].config.get("method") != "sync":
            panels.append(plots.Panel(fam, lines))
    if panels:
        _add_grid(s, panels, "families", "Staleness distributions, one panel per method and batch size, one line "
                  "per thread count.", "fraction of updates", xlabel="staleness τ (updates)", xlog2=False, ylog=True)
    s.add(Table(["configuration", "threads", "mean τ", "p50", "p99", "max", "overflow"], rows,
                caption="Median over repetitions (max: the largest seen).", long=len(rows) > 15))
    return s


def _curve(result):
    pts = result.get("curve") or []
    if pts:
        return [p["wall_s"] for p in pts], [p["updates"] for p in pts], [p["loss"] for p in pts]
    eps = result.get("epochs") or []
    return [e["wall_s"] for e in eps], [e["updates"] for e in eps], [e["train_loss"] for e in eps]


def loss_curves(ctx):
    s = Section("loss", "Loss vs wall time and vs updates",
                "Training loss (epoch loss, or the run's sampled curve) against wall-clock seconds (top) "
                "and applied updates (bottom); one panel per method, one colour per thread count, every "
                "repetition drawn. Dotted: the target losses.")
    if not ctx.results:
        s.add(Empty("No training results in the inputs."))
        return s
    fams = an.families(ctx.results, ctx.keys, drop=("method", "threads"))
    for fam, runs in fams[:MAX_FIGURES]:
        by_m = defaultdict(list)
        for r in runs:
            by_m[r.config["method"]].append(r)
        order = sorted(by_m, key=an.method_order)
        ramp = plots.ramp(sorted({r.config["threads"] for r in runs}))
        initial = an.spread([r.result.get("initial_loss") for r in runs])[0]
        fractions = sorted({t["fraction"] for r in runs for t in r.result.get("targets") or []}, reverse=True)
        hl = tuple((initial * f, f"{100 * f:g} % of initial") for f in fractions) if initial else ()
        top, bottom = [], []
        for m in order:
            for which, out in ((0, top), (1, bottom)):
                lines, seen = [], set()
                for r in sorted(by_m[m], key=lambda r: r.config["threads"]):
                    t = r.config["threads"]
                    x = _curve(r.result)[which]
                    lines.append(plots.Line(f"{t} thr" if t not in seen else "", x, _curve(r.result)[2],
                                            color=ramp[t], marker=None, width=1.3, alpha=0.85))
                    seen.add(t)
                out.append(plots.Panel(m, lines, hl, "wall time (s)" if which == 0 else "updates applied"))
        ylim = (0, 1.15 * initial) if initial else None
        s.add(Figure(plots.grid(top + bottom, "", "training loss", xlog2=False, ylog=False, ylim=ylim,
                                cols=len(order), suptitle=fam or None, panel_w=2.6 if len(order) > 3 else 3.4,
                                panel_h=2.4),
                     f"Loss curves{': ' + fam if fam else ''}.", "loss curves"))
    _more_note(s, min(len(fams), MAX_FIGURES), len(fams), "families")
    return s


def time_to_target(ctx):
    s = Section("targets", "Time to each target loss",
                "Wall-clock seconds until the epoch loss first fell to the target (a fraction of the initial "
                "loss), with the spread over repetitions. Runs that never reached it (including crashed and "
                "timed-out ones) count in the “reached” column.")
    if not ctx.results:
        s.add(Empty("No training results in the inputs."))
        return s
    fractions = sorted({t["fraction"] for r in ctx.results for t in r.result.get("targets") or []}, reverse=True)
    if not fractions:
        s.add(Empty("No target losses recorded in the training results."))
        return s
    rows, panels = [], []
    for f in fractions:
        for fam, runs in an.families(ctx.ds.runs, ctx.keys, drop=("method", "threads")):
            samples = []
            for cfg, cruns in an.configurations(runs):
                times, ups = [], []
                for r in cruns:
                    tgt = next((t for t in (r.result or {}).get("targets") or [] if t["fraction"] == f), None)
                    if tgt and tgt["reached"]:
                        times.append(tgt["wall_s"])
                        ups.append(tgt["updates"])
                med, lo, hi, n = an.spread(times)
                samples += [(cfg["method"], cfg["threads"], t) for t in times]
                rows.append([f"{100 * f:g} %", an.label(cfg, ctx.keys), f"{n}/{len(cruns)}", fmt(med),
                             f"{fmt(lo)} – {fmt(hi)}" if n else "–", fmt(an.spread(ups)[0])])
            panel, _ = _method_panel(f"target {100 * f:g} %" + (f", {fam}" if fam else ""), samples)
            if panel.lines:
                panels.append(panel)
    if panels:
        _add_grid(s, panels, "panels", "Median time to target against threads by method (bars: min–max over "
                  "repetitions that reached it).", "time to target (s)")
    else:
        s.add(Empty("No run reached any target loss."))
    s.add(Table(["target", "configuration", "reached", "median (s)", "min – max (s)", "median updates"], rows,
                long=len(rows) > 20))
    return s


def outcomes(ctx):
    s = Section("outcomes", "Outcomes",
                "How every training run ended, per configuration: converged (all targets reached), "
                "not-converged (budget spent), diverged (NaN/Inf or loss far above the initial), crashed "
                "(the process died), timeout (hung past its limit).")
    if not ctx.ds.runs:
        s.add(Empty("No training runs or sweep records in the inputs."))
        return s
    rows, by_mt = [], defaultdict(lambda: defaultdict(int))
    for cfg, runs in an.configurations(ctx.ds.runs):
        counts = defaultdict(int)
        for r in runs:
            counts[r.outcome] += 1
            by_mt[f"{cfg.get('method')} {cfg.get('threads')}"][r.outcome] += 1
        rows.append([an.label(cfg, ctx.keys)] + [counts[o] or "" for o in OUTCOMES] + [len(runs)])
    s.add(Table(["configuration", *OUTCOMES, "runs"], rows, long=len(rows) > 30))
    groups = list(by_mt)
    s.add(Figure(plots.stacked_bars(groups, OUTCOMES, by_mt, plots.OUTCOME_COLORS, "runs",
                                    "Outcomes by method and threads", "method, threads"),
                 "Outcome counts by method and thread count (all other settings together).", "outcomes chart"))
    bad = [r for r in ctx.ds.runs if r.outcome != "converged"]
    if bad:
        s.add(Table(["configuration", "repetition", "outcome", "detail", "source"],
                    [[an.label(r.config, ctx.keys), fmt(r.repetition), r.outcome, r.detail or "–", r.source]
                     for r in sorted(bad, key=lambda r: an.sort_key(r.config))],
                    caption="Runs that did not converge.", long=len(bad) > 10, summary=False))
    total = defaultdict(int)
    for r in ctx.ds.runs:
        total[r.outcome] += 1
    s.summary = ", ".join(f"{total[o]} {o}" for o in OUTCOMES if total[o]) + f" of {len(ctx.ds.runs)} runs."
    return s


# ---- counters ----

def counters(ctx):
    s = Section("counters", "Counters per operation and per update",
                "Hardware and software counters, normalised per benchmark operation or per applied "
                "update (split into the read, gradient and apply phases). A counter that was not measured "
                "is absent, never shown as 0.")
    missing = _not_measured(ctx)
    for line in missing:
        s.add(Para(line))
    any_data = False
    hw = [p for p in ctx.ds.bench if p.error is None and p.counters]
    if hw:
        any_data = True
        for topic in dict.fromkeys(p.topic for p in hw):
            pts = [p for p in hw if p.topic == topic]
            names = sorted({k for p in pts for k in p.counters})
            rows = []
            for sname, by_t in an.bench_series(pts).items():
                for t in sorted({min(by_t), max(by_t)}):
                    med = an.median_dicts([p.counters for p in by_t[t]])
                    rows.append([sname, t] + [fmt(med.get(n)) for n in names])
            s.add(Table(["benchmark", "threads", *names], rows, long=len(rows) > 12,
                        caption=f"{topic}: user counters at the fewest and the most threads (as named by the "
                                "benchmark: totals, per-thread or per-operation figures; see harness/README.md)."))
    per_update = [r for r in ctx.results if an.per_update_counters(r.result)]
    if per_update:
        any_data = True
        rows, names = [], sorted({k for r in per_update for k in an.per_update_counters(r.result)})
        for cfg, runs in an.configurations(per_update):
            med = an.median_dicts([an.per_update_counters(r.result) for r in runs])
            rows.append([an.label(cfg, ctx.keys)] + [fmt(med.get(n)) for n in names])
        s.add(Table(["configuration", *names], rows, long=len(rows) > 12,
                    caption="Training: counters per applied update by phase (phase:counter; all: phases summed), "
                            "median over repetitions."))
        _per_update_figure(s, ctx, per_update)
    if not any_data:
        s.add(Empty("No counter values in the inputs."))
    return s


def _digits_blind(text):
    """The text with every run of digits alike: reasons that differ only in a process id in a
    file name (/tmp/likwid-20226) are one reason."""
    return re.sub(r"\d+", "#", text)


def _not_measured(ctx):
    lines = {}  # digits-blind line -> the first line
    for env in ctx.ds.envs.values():
        d = env.data
        for sk in d["counters"]["skipped"]:
            line = f"Not measured on this machine ({d['hostname']}, {d['cpu_model']}): {sk['backend']}: {sk['reason']}"
            lines.setdefault(_digits_blind(line), line)
    unavailable = {}  # digits-blind reason -> (the first reason, counters)
    for r in ctx.results:
        for u in (r.result.get("counters") or {}).get("unavailable") or []:
            unavailable.setdefault(_digits_blind(u["reason"]), (u["reason"], set()))[1].add(u["counter"])
    for blind, (reason, names) in unavailable.items():
        if not any(blind in said for said in lines):  # already said for its backend
            lines[blind] = f"Not measured on this machine: {', '.join(sorted(names))}: {reason}"
    return list(lines.values())


TRAFFIC = ("miss", "numa", "remote", "mem", "cache", "llc", "l1", "l2", "l3", "hitm", "bytes", "context",
           "migration", "fault")


def _per_update_figure(section, ctx, runs):
    """Counters per applied update (phases summed) against threads by method, one panel per
    counter and family (batch size, ...); cache and NUMA traffic first; a counter that is 0 in
    every run is one line of text."""
    values = defaultdict(list)
    for r in runs:
        flat = an.per_update_counters(r.result)
        summed = {k: v for k, v in flat.items() if k.startswith("all:")} or flat
        for k, v in summed.items():
            values[k].append((r, v))
    zero = sorted(k for k, vs in values.items() if all(v == 0 for _, v in vs))
    if zero:
        section.add(Para("0 per update in every run: " + ", ".join(k.replace("all:", "") for k in zero) + "."))
    names = sorted((k for k in values if k not in zero),
                   key=lambda k: (not any(t in k.lower() for t in TRAFFIC), k))
    panels = []
    for name in names:
        value = {id(r): v for r, v in values[name]}
        for fam, fruns in an.families([r for r, _ in values[name]], ctx.keys, drop=("method", "threads")):
            title = name.replace("all:", "") + " per update" + (f", {fam}" if fam else "")
            panels.append(_method_panel(title, ((r.config["method"], r.config["threads"], value[id(r)])
                                                for r in fruns))[0])
    if panels:
        _add_grid(section, panels, "panels", "Counters per applied update (all phases), by method, against "
                  "threads.", "per update")


# ---- environment ----

def _size(n):
    for div, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= div and n % div == 0 or n >= 10 * div:
            return f"{n / div:g} {unit}"
    return f"{n} B"


ENV_COLUMNS = 3


def _system_text(sysinfo):
    if not sysinfo:
        return "–"
    why = sysinfo.get("unavailable") or {}
    parts = []
    for key, label in (("governor", "governor"), ("boost", "boost"), ("thp", "THP"), ("smt", "SMT")):
        v = sysinfo.get(key)
        parts.append(f"{label} " + (fmt(v) if v is not None else f"unknown ({why.get(key, 'not recorded')})"))
    return "; ".join(parts)


def _blas_text(blas):
    if not blas:
        return "–"
    return (f"{blas['core_used']} (chosen by {blas['chosen_by']}; OpenBLAS detected "
            f"{blas.get('core_detected') or '–'}, best for this CPU {blas.get('core_best') or '–'})")


def _env_rows(d, n_sources):
    topo, pl, cnt = d["topology"], d["placement"], d["counters"]
    caches = ", ".join(f"L{c['level']} {c.get('type', '')} {_size(c['size_bytes'])}"
                       + (f" ×{c['count']}" if c.get("count") else "") for c in topo.get("caches") or [])
    return [
        ("CPU", d["cpu_model"]),
        ("topology", f"{topo['packages']} package(s), {topo['numa_nodes']} NUMA node(s), "
                     f"{topo['cores']} cores, {topo['pus']} hardware threads"),
        ("caches", caches or "–"),
        ("kernel", d["kernel"]), ("host", d["hostname"]),
        ("compiler", f"{d['compiler']} ({d['build_type']}) {d['cflags']}"),
        ("placement", f"pinning {pl['pinning']}, memory {pl['memory']}" + (f" ({pl['note']})" if pl.get("note") else "")),
        ("versions", ", ".join(f"{k} {v}" for k, v in d["versions"].items() if v) or "–"),
        ("counters", f"requested {cnt['requested']}; used {', '.join(cnt['used']) or 'none'}"
                     + "".join(f"; skipped {sk['backend']}: {sk['reason']}" for sk in cnt["skipped"])),
        ("OS settings", _system_text(d.get("system"))),
        ("BLAS core", _blas_text(d.get("blas"))),
        ("git commit", d["git_commit"]),
        ("inputs", f"{n_sources} file(s) or records"),
    ]


def environment(ctx):
    s = Section("environment", "Environment of each input",
                "Where the results come from, one column per distinct machine, build and counter setup "
                "(files differ, for instance, in the libraries they link). Dates and command lines per "
                "input are folded below.")
    envs = list(ctx.ds.envs.values())
    if not envs:
        s.add(Empty("No environment: no valid input."))
        return s
    for first in range(0, len(envs), ENV_COLUMNS):
        group = envs[first:first + ENV_COLUMNS]
        cols = [_env_rows(e.data, len(e.sources)) for e in group]
        s.add(Table([""] + [f"environment {first + i + 1}" for i in range(len(group))],
                    [[field] + [c[k][1] for c in cols] for k, (field, _) in enumerate(cols[0])]))
    for i, env in enumerate(envs, 1):
        s.add(Table(["input", "date", "command line"], [list(src) for src in env.sources],
                    caption=f"Inputs of environment {i}", long=True, summary=False))
    return s
