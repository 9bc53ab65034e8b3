"""Two sets of results side by side: B/A per configuration and a Mann-Whitney U test (two-sided,
scipy.stats.mannwhitneyu) over the repetitions of each side. Micro-benchmarks are also shown
through libbenchmark-tools' compare.py (its gbench module), which compares times the same way."""

import datetime
import io
import json
import math
import os
import sys
import warnings
from collections import defaultdict
from contextlib import redirect_stdout
from dataclasses import dataclass

from scipy.stats import mannwhitneyu

from . import OUTCOMES, analysis as an, html, markdown
from .doc import Empty, Para, Report, Section, Table, fmt, si

GBENCH_DIRS = ("/usr/share/benchmark",)
TEST_NAME = "Mann-Whitney U, two-sided"


@dataclass
class Row:
    kind: str
    label: str
    unit: str
    higher_better: bool
    a: list
    b: list

    @property
    def ratio(self):
        ma, mb = an.spread(self.a)[0], an.spread(self.b)[0]
        return mb / ma if ma and mb is not None else None

    @property
    def p(self):
        """The U test's p, or None with fewer than two repetitions on a side (or no p at all)."""
        if len(self.a) < 2 or len(self.b) < 2:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = float(mannwhitneyu(self.a, self.b, alternative="two-sided").pvalue)
        return None if math.isnan(p) else p

    def verdict(self, alpha):
        p, r = self.p, self.ratio
        if r is None:
            return "–"
        if p is None:
            return "too few repetitions to test"
        if p >= alpha:
            return "no significant difference"
        return "B better" if (r > 1) == self.higher_better else "B worse"


def _measurements(ds):
    """{key: (kind, label, unit, higher_is_better, samples)} of one side; a NaN or infinite
    value marks the configuration as measured but is no sample."""
    out = {}

    def put(key, kind, lab, unit, hib, value):
        if value is None:
            return
        samples = out.setdefault(key, (kind, lab, unit, hib, []))[4]
        if math.isfinite(value):
            samples.append(value)

    for p in ds.bench:
        if p.error is None:
            put(("bench", p.name), "micro-benchmark", p.name, "ops/s", True, p.throughput)
    keys = an.varying_keys(ds.runs)
    for r in ds.runs:
        if r.result is None:
            continue
        ck = an.config_key(r.config)
        lab = an.label(r.config, keys)
        put(("train", ck), "training", lab, "updates/s", True, an.updates_per_s(r))
        for t in r.result.get("targets") or []:
            if t["reached"]:
                put(("target", ck, t["fraction"]), "time to target", f"{lab}, {100 * t['fraction']:g} %",
                    "s", False, t["wall_s"])
    return out


def _outcomes(ds):
    counts = defaultdict(lambda: defaultdict(int))
    labels = {}
    keys = an.varying_keys(ds.runs)
    for r in ds.runs:
        ck = an.config_key(r.config)
        counts[ck][r.outcome] += 1
        labels[ck] = an.label(r.config, keys)
    return counts, labels


def compare(a, b, alpha):
    ma, mb = _measurements(a), _measurements(b)
    rows = [Row(*ma[k][:4], ma[k][4], mb[k][4]) for k in ma if k in mb]
    only_a = [ma[k][1] for k in ma if k not in mb]
    only_b = [mb[k][1] for k in mb if k not in ma]
    oa, la = _outcomes(a)
    ob, lb = _outcomes(b)
    changed = []
    for ck in oa:
        if ck in ob and dict(oa[ck]) != dict(ob[ck]):
            changed.append([la[ck]] + [f"{oa[ck].get(o, 0)} → {ob[ck].get(o, 0)}" for o in OUTCOMES])
    return {"rows": rows, "only_a": only_a, "only_b": only_b, "outcomes": changed}


def _report(result, alpha, name_a, name_b):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rep = Report(f"sgdsync-compare: {name_b} (B) against {name_a} (A)", now, None, [])
    sec = Section("ratios", "Ratios per configuration",
                  f"B/A of the medians over repetitions; p from the {TEST_NAME} test over the repetitions "
                  f"of each side (significant below {alpha:g}). For throughput a ratio above 1 is better, for "
                  "time to target below 1.")
    rows = [[r.kind, r.label, r.unit, si(an.spread(r.a)[0]), si(an.spread(r.b)[0]),
             f"{r.ratio:.3f}" if r.ratio is not None else "–", fmt(r.p) if r.p is not None else "–",
             len(r.a), len(r.b), r.verdict(alpha)] for r in result["rows"]]
    if rows:
        sec.add(Table(["kind", "configuration", "unit", "A (median)", "B (median)", "B/A", "p", "n A", "n B",
                       "verdict"], rows))
        better = sum(r.verdict(alpha) == "B better" for r in result["rows"])
        worse = sum(r.verdict(alpha) == "B worse" for r in result["rows"])
        sec.summary = f"{len(rows)} configurations in both: B significantly better in {better}, worse in {worse}."
    else:
        sec.add(Empty("No configuration is present in both A and B."))
    rep.sections.append(sec)
    out = Section("outcomes", "Outcomes that changed")
    if result["outcomes"]:
        out.add(Table(["configuration", *OUTCOMES], result["outcomes"]))
    else:
        out.add(Empty("No configuration changed its outcome counts."))
    rep.sections.append(out)
    one = Section("unmatched", "Only on one side")
    for side, names in (("A", result["only_a"]), ("B", result["only_b"])):
        if names:
            one.add(Para(f"Only in {side} ({len(names)}): " + "; ".join(names)))
    if one.empty:
        one.add(Empty("Every configuration is on both sides."))
    rep.sections.append(one)
    return rep


def render_text(result, alpha):
    rep = _report(result, alpha, "A", "B")
    lines = []
    for sec in rep.sections:
        lines += [sec.title, "=" * len(sec.title)]
        if sec.summary:
            lines.append(sec.summary)
        for block in sec.blocks:
            if isinstance(block, Table):
                lines += _text_table(block)
            else:
                lines.append(block.text)
        lines.append("")
    lines.insert(0, f"p: {TEST_NAME} (scipy.stats.mannwhitneyu) over repetitions; significant below {alpha:g}.\n")
    return "\n".join(lines).rstrip()


def _text_table(t):
    cells = [[str(c) for c in t.columns]] + [[fmt(c) for c in row] for row in t.rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(t.columns))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    out.insert(1, "  ".join("-" * w for w in widths))
    return out


def render_markdown(result, alpha, name_a, name_b):
    return markdown.render(_report(result, alpha, name_a, name_b))


def render_html(result, alpha, name_a, name_b):
    return html.render(_report(result, alpha, name_a, name_b))


def _gbench():
    for d in GBENCH_DIRS:
        if os.path.isdir(os.path.join(d, "gbench")):
            sys.path.insert(0, d)
            try:
                from gbench import report  # libbenchmark-tools
                return report
            except ImportError:
                return None
            finally:
                sys.path.remove(d)
    return None


def _bench_docs(ds):
    """{binary: Google Benchmark JSON with the benchmarks of all its files on this side}, without
    the rows that report an error (compare.py would read their zero time as infinitely fast)."""
    docs = {}
    for path, kind, _ in ds.inputs:
        if kind != "bench":
            continue
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        binary = os.path.basename(doc["context"].get("executable", "")) or os.path.basename(path)
        rows = [row for row in doc["benchmarks"] if not row.get("error_occurred")]
        docs.setdefault(binary, {"context": doc["context"], "benchmarks": []})["benchmarks"] += rows
    return {binary: doc for binary, doc in docs.items() if doc["benchmarks"]}


def gbench_tables(a, b):
    """[(title, text)]: compare.py's table (time change (new-old)/old, U test) per binary in both."""
    da, db = _bench_docs(a), _bench_docs(b)
    common = [k for k in da if k in db]
    if not common:
        return []
    report = _gbench()
    if report is None:
        return [("libbenchmark-tools' compare.py", "not found under " + ", ".join(GBENCH_DIRS) +
                 "; install libbenchmark-tools for its tables (the ratios above cover the same runs)")]
    out = []
    for binary in common:
        buf = io.StringIO()
        with redirect_stdout(buf):
            diff = report.get_difference_report(da[binary], db[binary], utest=True)
            lines = report.print_difference_report(diff, utest=True, use_color=False)
        out.append((f"{binary}: libbenchmark-tools compare.py (time change = (B-A)/A; negative is faster)",
                    "\n".join(lines)))
    return out
