#!/usr/bin/python3
"""Tests of results/: python3 test_results.py CASE OUTDIR (one CTest test per case).

Each case runs the real entry scripts on the checked-in fixtures and checks what a user gets:
the sections, the tables' numbers, the error lines, the page in a browser."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIX = os.path.join(HERE, "fixtures")
REPORT = os.path.join(ROOT, "results", "sgdsync-report")
COMPARE = os.path.join(ROOT, "results", "sgdsync-compare")
SECTIONS = ("hotspots", "throughput", "backoff", "methods", "cas", "staleness", "loss", "targets",
            "outcomes", "counters", "environment")
OUTCOMES_HEADER = "| configuration | converged | not-converged | diverged | crashed | timeout | runs |"
SKIP = 77

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


def run(cmd, **kw):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, **kw)


def report(out, *inputs):
    return run([REPORT, "-o", out, *inputs])


def full_report(out, name):
    """Reports fixtures/NAME into OUT/NAME, checks it ran cleanly and is one self-contained page
    with every section; returns (html, markdown, {section id: its HTML})."""
    d = os.path.join(out, name)
    r = report(d, os.path.join(FIX, name))
    check(r.returncode == 0, f"exit status {r.returncode}: {r.stderr}")
    check(r.stderr == "", f"no problems reported, got: {r.stderr}")
    html = open(os.path.join(d, "report.html"), encoding="utf-8").read()
    md = open(os.path.join(d, "summary.md"), encoding="utf-8").read()
    check_self_contained(html, f"{name} report")
    secs = sections_of(html)
    for s in SECTIONS:
        check(s in secs, f"section {s} present")
        check('class="empty"' not in secs.get(s, ""), f"section {s} has data")
    check(OUTCOMES_HEADER in md, "Markdown summary has the outcomes table")
    return html, md, secs


def sections_of(html):
    """{section id: its HTML}"""
    parts = re.split(r'<section id="([a-z]+)">', html)
    return dict(zip(parts[1::2], parts[2::2]))


def md_outcome_rows(md):
    """{configuration: [converged, not-converged, diverged, crashed, timeout, runs]} from the
    Markdown outcomes table."""
    lines = md.splitlines()
    start = lines.index(OUTCOMES_HEADER)
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = [int(c) if c not in ("", "–") else 0 for c in cells[1:]]
    return rows


def check_self_contained(html, name):
    check("<script" not in html.lower(), f"{name}: no script")
    check(not re.search(r'(src|href)="(https?:|//)', html), f"{name}: no external resource")
    check("<link" not in html.lower(), f"{name}: no linked stylesheet")
    check(len(re.findall(r'<img src="data:image/png;base64,', html)) >= 1, f"{name}: embedded PNG plots")


def case_report_counters(out):
    """Every section has data; the outcome counts match the fixture; a run read twice counts once."""
    html, md, secs = full_report(out, "counters")
    check(len(re.findall(r"<img ", html)) >= 14, "a plot in every section that has one")
    rows = md_outcome_rows(md)
    check(rows.get("mutex 16 thr batch=16") == [1, 0, 0, 1, 0, 2], f"mutex 16 thr batch=16: {rows.get('mutex 16 thr batch=16')}")
    check(rows.get("hogwild 16 thr batch=16") == [1, 0, 1, 0, 0, 2], "hogwild 16 thr batch=16 one diverged")
    check(rows.get("rwlock 16 thr batch=128") == [1, 0, 0, 0, 1, 2], "rwlock 16 thr batch=128 one timeout")
    check(rows.get("sync 16 thr batch=16") == [1, 1, 0, 0, 0, 2], "sync 16 thr batch=16 one not-converged")
    check(sum(r[-1] for r in rows.values()) == 60, "60 runs: the duplicated training-run file counts once")
    check("56 converged, 1 not-converged, 1 diverged, 1 crashed, 1 timeout of 60 runs." in md, "outcome summary line")
    check("Not measured on this machine" not in html, "nothing reported missing where every backend ran")
    # Backoff verdicts: the fixture's spin locks gain from backoff from 2 threads on.
    check(re.search(r"\| locks/tas cs:64 \| 2, 4, 8, 16, 32, 64 \| [\d.]+× \(jitter, 64 thr\) \|", md),
          "backoff verdict for tas")
    check(re.search(r"<td>locks/ck_fas/backoff:none/cs:64/real_time/threads:1</td><td>[^<]*</td>"
                    r"<td>Concurrency Kit locks use inline assembly", secs.get("throughput", "")),
          "a benchmark that skipped itself is listed with its message")
    check("LLC-read-misses/op" in secs.get("counters", ""), "per-operation hardware counters")
    check("apply:likwid:NUMA:remote-bytes" in secs.get("counters", ""), "per-update NUMA traffic by phase")
    check("numa-box" in secs.get("environment", "") and "2 NUMA node(s)" in secs.get("environment", ""),
          "environment: host and topology")


def case_report_no_counters(out):
    """Real output of a machine without hardware counters: every section has data, the missing
    backends are named with their reasons, and no hardware counter appears as a value."""
    html, md, secs = full_report(out, "no-counters")
    counters = secs.get("counters", "")
    check(re.search(r"Not measured on this machine \(vm, .*?\): likwid: .+", counters),
          "likwid named as not measured, with its reason")
    check(re.search(r"Not measured on this machine \(vm, .*?\): perf:hardware: .*not supported", counters),
          "perf hardware events named as not measured, with the reason")
    headers = " ".join(re.findall(r"<th>([^<]*)</th>", counters))
    check("task-clock-ns" in headers and "context-switches" in headers, "software counters in the tables")
    check(not re.search(r"L1D|LLC|cycles|instructions", headers), f"no hardware counter column: {headers}")


def case_chromium(out):
    """The counters report opens in headless Chromium without console errors and is not blank."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    html = os.path.join(out, "counters", "report.html")
    if not os.path.exists(chromium):
        print("chromium not installed: skipped")
        return SKIP
    if not os.path.exists(html):
        report(os.path.join(out, "counters"), os.path.join(FIX, "counters"))
    profile = tempfile.mkdtemp(prefix="sgdsync-chromium-")
    shot = os.path.join(out, "counters", "screenshot.png")
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--hide-scrollbars"]
    try:
        r = run(base + ["--window-size=1280,2400", f"--screenshot={shot}", "file://" + html])
        dom = run(base + ["--dump-dom", "file://" + html])
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    logs = r.stderr + dom.stderr
    console = [line for line in logs.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    check(not console, f"no console messages: {console}")
    check("Not allowed to load" not in logs and "net::ERR" not in logs, "no blocked or failed loads")
    check("<h1>sgdsync report</h1>" in dom.stdout, "the DOM holds the report")
    check(dom.stdout.count("<figure>") >= 14, "the DOM holds the figures")
    check(os.path.exists(shot), f"screenshot written: {r.stderr[-500:]}")
    if os.path.exists(shot):
        import matplotlib.image
        img = matplotlib.image.imread(shot)
        check(img.shape[0] >= 2000 and img.shape[1] >= 1200, f"screenshot size {img.shape}")
        check(float(img[..., :3].std()) > 0.05, f"screenshot not blank (pixel std {img[..., :3].std():.3f})")


def case_report_errors(out):
    """Broken inputs: one clear line each, the valid ones still reported, status 0; none valid: 1."""
    d = os.path.join(out, "errors")
    bad = os.path.join(FIX, "bad")
    r = report(d, bad, os.path.join(out, "does-not-exist"))
    check(r.returncode == 0, f"exit status 0 with some valid inputs, got {r.returncode}")
    err = r.stderr
    expect = {
        "truncated.json": "malformed JSON",
        "version2-train.json": "version 2 is not supported (this reader reads version 1 only)",
        "missing-outcome.json": "'outcome' is a required property",
        "env-missing-cpu.json": "at environment: 'cpu_model' is a required property",
        "mixed-versions.jsonl:2": "format 'sgdsync-sweep' version 2 is not supported",
        "mixed-versions.jsonl:3": "malformed JSON",
        "plain-gbench.json": "without sgdsync context",
        "unknown-format.json": "unknown format 'something-else'",
        "does-not-exist": "no such file or directory",
    }
    for name, msg in expect.items():
        line = next((ln for ln in err.splitlines() if name + ":" in ln), "")
        check(line.startswith("sgdsync-report: ") and msg in line, f"{name}: expected '{msg}' on stderr, got '{line}'")
    check(len(err.splitlines()) == len(expect), f"one line per problem: {err}")
    check("good-train.json" not in err and "mixed-versions.jsonl:1" not in err, "valid inputs not reported")
    html = open(os.path.join(d, "report.html"), encoding="utf-8").read()
    md = open(os.path.join(d, "summary.md"), encoding="utf-8").read()
    check("Inputs that could not be read (9)" in html, "the report lists the problems")
    rows = md_outcome_rows(md)
    check(sum(r[-1] for r in rows.values()) == 2, f"the two valid runs are reported: {rows}")
    r = report(os.path.join(out, "errors-none"), os.path.join(bad, "truncated.json"), os.path.join(bad, "version2-train.json"))
    check(r.returncode == 1, f"exit status 1 when no input is valid, got {r.returncode}")
    check("no valid input" in r.stderr, "says there was no valid input")
    check(not os.path.exists(os.path.join(out, "errors-none", "report.html")), "no report without input")


def case_compare(out):
    """Known ratios: bench 2.0 at 1 thread and 1.0 at 2 threads, training 0.5 (B slower), time to
    target 0.5 (B faster); 3 against 3 fully separated repetitions give p = 0.1 exactly."""
    md_path = os.path.join(out, "compare.md")
    html_path = os.path.join(out, "compare.html")
    r = run([COMPARE, os.path.join(FIX, "compare", "A"), os.path.join(FIX, "compare", "B"),
             "--markdown", md_path, "--html", html_path])
    check(r.returncode == 0, f"exit status {r.returncode}: {r.stderr}")
    text = r.stdout
    rows = {}
    for line in open(md_path, encoding="utf-8"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 10 and cells[0] != "kind" and not cells[0].startswith("-"):
            rows[(cells[0], cells[1])] = cells
    def ratio(kind, label):
        row = rows.get((kind, label))
        return (float(row[5]), row[6], row[9]) if row else None
    check(ratio("micro-benchmark", "atomics/faa/slot:shared/real_time/threads:1") == (2.0, "0.1", "no significant difference"),
          f"bench ratio 2.0, p 0.1: {ratio('micro-benchmark', 'atomics/faa/slot:shared/real_time/threads:1')}")
    check(ratio("micro-benchmark", "atomics/faa/slot:shared/real_time/threads:2") == (1.0, "1", "no significant difference"),
          "bench ratio 1.0, p 1")
    check(ratio("training", "leashed 2 thr") == (0.5, "0.1", "no significant difference"),
          f"training ratio 0.5: {ratio('training', 'leashed 2 thr')}")
    check(ratio("time to target", "leashed 2 thr, 50 %") == (0.5, "0.1", "no significant difference"),
          "time-to-target ratio 0.5")
    check("Mann-Whitney U" in text, "names the test")
    check("libbenchmark-tools compare.py" in text and "atomics/faa/slot:shared/real_time/threads:1" in text.split("compare.py")[-1],
          "compare.py table for the micro-benchmarks")
    check(os.path.exists(html_path) and "<table>" in open(html_path, encoding="utf-8").read(), "HTML written")
    r = run([COMPARE, "--alpha", "0.2", "--no-gbench", os.path.join(FIX, "compare", "A"), os.path.join(FIX, "compare", "B")])
    check(re.search(r"training\s+leashed 2 thr\s+updates/s.*B worse", r.stdout), "at alpha 0.2: training B worse")
    check(re.search(r"time to target\s+leashed 2 thr, 50 %\s+s .*B better", r.stdout), "at alpha 0.2: time B better")


def case_units(out):
    """The numbers behind the report, on small known inputs."""
    sys.path.insert(0, os.path.join(ROOT, "results"))
    from sgdsync_results import analysis as an, load
    check(load.parse_name("locks/ttas/backoff:exp/cs:64/threads:8/real_time") ==
          ("locks", "ttas", (), {"backoff": "exp", "cs": "64"}, 8), "parse_name")
    check(load.series_name("chain/publish/size:1024/threads:4/repeats:3/real_time") == "chain/publish/size:1024",
          "series_name drops Google Benchmark's components")
    loss = an.scaling_loss({1: 100.0, 2: 150.0, 4: 200.0, 8: 200.0}, pus=4)
    check([(n, round(lost, 3)) for n, _, _, lost in loss] == [(2, 0.25), (4, 0.5), (8, 0.5)],
          f"scaling loss, ideal capped at 4 PUs: {loss}")
    moved = an.moved_counters({"a": 1.0, "b": 1.0, "c": 0.0, "d": 5.0}, {"a": 1.05, "b": 8.0, "c": 2.0, "d": 1.0})
    check([m[0] for m in moved] == ["c", "b", "d"], f"counters ranked by change: {moved}")
    xs, fr, over = an.histogram_fraction([{"counts": [1, 2], "overflow": 1}, {"counts": [0, 0, 4]}])
    check(xs == [0, 1, 2] and fr == [0.125, 0.25, 0.5] and over == 0.125, f"histogram merge: {fr} {over}")
    check(an.distinct_labels([["a", "cs:64"], ["b", "cs:64"]]) == ("cs:64", ["a", "b"]), "distinct labels")


def main():
    case, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    status = globals()["case_" + case](out)
    if status == SKIP:
        return SKIP
    if failures:
        print(f"{case}: {len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print(f"{case}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
