#!/usr/bin/python3
"""Tests of results/: python3 test_results.py CASE OUTDIR (one CTest test per case).

Each case runs the real entry scripts on the checked-in fixtures and checks what a user gets:
the sections, the tables' numbers, the error lines, the page in a browser."""

import copy
import json
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
SECTIONS = ("hotspots", "throughput", "kernels", "backoff", "peers", "methods", "cas", "staleness", "loss", "targets",
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


def fixture_lines(name):
    with open(os.path.join(FIX, name), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def fixture_json(name):
    with open(os.path.join(FIX, name), encoding="utf-8") as f:
        return json.load(f)


def write_input(path, obj, lines=False):
    """Writes a test input as the C tools do: UTF-8, non-ASCII characters unescaped."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        if lines:
            f.writelines(json.dumps(o, ensure_ascii=False) + "\n" for o in obj)
        else:
            json.dump(obj, f, ensure_ascii=False)


def with_environment(bench, **changes):
    """A copy of a benchmark document whose environment has `changes`."""
    doc = copy.deepcopy(bench)
    env = json.loads(doc["context"]["sgdsync_environment"])
    env.update(changes)
    doc["context"]["sgdsync_environment"] = json.dumps(env)
    return doc


def crashed(rec, repetition):
    """A crashed sweep record for the configuration of `rec`, one repetition on."""
    config = dict(rec["config"], seed=rec["config"]["seed"] + repetition)
    return dict(rec, key=f"crashed-r{repetition}", config=config, repetition=repetition, outcome="crashed",
                exit_status=None, signal=11, wall_s=1.5, result=None)


def load_results(*inputs):
    sys.path.insert(0, os.path.join(ROOT, "results"))
    from sgdsync_results import load
    return load.load(list(inputs))


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
    # Peers: mcs's repetitions swing 2.5x with the load but pair to 1.02x; clh has one each.
    check("| mcs/backoff:none | ck_mcs/backoff:none | cs:64 | 2 | 9.18 M | 9 M | 1.02× | 1.02 – 1.02 | 3 paired |"
          in md, "peers: paired repetitions")
    check("| clh/backoff:none | ck_clh/backoff:none | cs:64 | 8 | 2.12 M | 2.5 M | 0.85× | 0.85 – 0.85 | medians |"
          in md, "peers: single repetitions by their medians")
    check("Ours at least 0.95× the peer in 5 of 8 cells; below in clh/backoff:none cs:64 2 thr (0.9499×), "
          "clh/backoff:none cs:64 4 thr (0.90×), clh/backoff:none cs:64 8 thr (0.85×). 4 of 8 cells compare "
          "medians of separate runs" in md,
          "peers: summary names the cells below the target (a ratio just below it not rounded up to it) "
          "and counts those not paired")
    check(re.search(r"<td>locks/ck_fas/backoff:none/cs:64/real_time/threads:1</td><td>[^<]*</td>"
                    r"<td>Concurrency Kit locks use inline assembly", secs.get("throughput", "")),
          "a benchmark that skipped itself is listed with its message")
    check("LLC-read-misses/op" in secs.get("counters", ""), "per-operation hardware counters")
    check("apply:likwid:NUMA:remote-bytes" in secs.get("counters", ""), "per-update NUMA traffic by phase")
    check("numa-box" in secs.get("environment", "") and "2 NUMA node(s)" in secs.get("environment", ""),
          "environment: host and topology")
    kern = secs.get("kernels", "")
    check(re.search(r"<td>kernels/net:mlp:3x128/batch:512</td>(<td[^>]*>[^<]*</td>){3}<td[^>]*>0\.7\d*</td>"
                    r"<td[^>]*>134 G</td><td>SkylakeX</td>", kern), "kernels: peak fraction, peak and BLAS core at batch 512")
    env = secs.get("environment", "")
    check("SkylakeX (chosen by sgdsync; OpenBLAS detected Prescott" in env, "environment: BLAS core detected and used")
    check("governor performance; boost no; THP madvise; SMT yes" in env, "environment: OS settings")
    machines_apart(out)
    one_environment_despite_pids(out)
    backoff_without_baseline(out)


def machines_apart(out):
    """The same benchmark on two machines is two series, each scaled against its own PUs."""
    d = os.path.join(out, "machines")
    bench = fixture_json("compare/A/bench.json")
    write_input(os.path.join(d, "numa-box.json"), bench)
    topology = dict(json.loads(bench["context"]["sgdsync_environment"])["topology"], pus=1)
    write_input(os.path.join(d, "other-box.json"), with_environment(bench, hostname="other-box", topology=topology))
    r = report(d, d)
    check(r.returncode == 0 and r.stderr == "", f"two machines: {r.stderr}")
    md = open(os.path.join(d, "summary.md"), encoding="utf-8").read()
    check(re.search(r"\| 1 \| atomics/faa/slot:shared on numa-box \| 2 \| 100 M \| 50 M \| 200 M \| 75 % \|", md),
          "hot spot on numa-box: ideal from its 80 PUs")
    check(re.search(r"\| 2 \| atomics/faa/slot:shared on other-box \| 2 \| 100 M \| 50 M \| 100 M \| 50 % \|", md),
          "hot spot on other-box: ideal from its one PU")


def one_environment_despite_pids(out):
    """Counter backends skipped for a reason naming a temporary file with a PID: one environment,
    one line per backend."""
    d = os.path.join(out, "pids")
    bench = fixture_json("compare/A/bench.json")
    for pid in (20226, 31337):
        counters = {"requested": "auto", "used": ["software"],
                    "skipped": [{"backend": "likwid", "reason": f"cannot create /tmp/likwid-{pid}: read-only"}]}
        write_input(os.path.join(d, f"run-{pid}.json"),
                    with_environment(bench, counters=counters, date=f"2026-11-20T09:{pid % 60:02d}:00Z"))
    r = report(d, d)
    check(r.returncode == 0 and r.stderr == "", f"skip reasons with PIDs: {r.stderr}")
    md = open(os.path.join(d, "summary.md"), encoding="utf-8").read()
    check(len(re.findall(r"Not measured on this machine .*: likwid: cannot create", md)) == 1,
          "likwid named as not measured once")
    check("environment 1" in md and "environment 2" not in md, "one environment for both files")


def backoff_without_baseline(out):
    """A lock run with backoff policies but never without backoff is left out of the summary."""
    d = os.path.join(out, "no-baseline")
    locks = fixture_json("counters/sgdsync-bench-locks.json")
    locks["benchmarks"] = [b for b in locks["benchmarks"] if not b["name"].startswith("locks/ttas/backoff:none/")]
    write_input(os.path.join(d, "locks.json"), locks)
    r = report(d, d)
    check(r.returncode == 0, f"locks without ttas/none: {r.stderr}")
    md = open(os.path.join(d, "summary.md"), encoding="utf-8").read()
    check("| locks/ttas cs:64 | no run without backoff to compare with |" in md, "ttas has nothing to compare with")
    check("**Backoff helps in 2 of 2 lock configurations.**" in md, "ttas in neither number")


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
    check(re.search(r"<td>kernels/net:mlp:3x128/batch:512</td>(<td[^>]*>[^<]*</td>){3}<td[^>]*>–</td>",
                    secs.get("kernels", "")), "kernels from before the peak probe: no peak fraction")


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
    copies_count_once(out)
    line_separators_in_strings(out)
    unwritable_outputs(out)


def case_report_limits(out):
    """Inputs past every bound sgdsync's results keep, and outputs that are not plain files."""
    out_of_range_values(out)
    outputs_where_they_point(out)


def problem_lines(stderr, expect, prog="sgdsync-report"):
    """Checks one line on stderr per {file name: message part}, and no traceback."""
    check("Traceback" not in stderr, f"no traceback: {stderr[-2000:]}")
    for name, msg in expect.items():
        line = next((ln for ln in stderr.splitlines() if f"{name}:" in ln), "")
        check(line.startswith(prog + ": ") and msg in line, f"{name}: expected '{msg}' on stderr, got '{line}'")


def out_of_range_values(out):
    """A file nested 50 000 levels deep, a thread count of 1e30, a rate of 1e308, NaN: each is one
    problem naming the file, and the valid files are still reported (report and compare)."""
    d = os.path.join(out, "ranges")
    good = fixture_json("bad/good-train.json")
    cases = {"threads-1e30.json": (("config", "threads"), 1e30, "at config/threads: 1e+30 is out of range"),
             "threads-100000.json": (("config", "threads"), 100000,
                                  "at config/threads: 100000 is out of range (a thread count is an integer in 1..65536)"),
             "rate-1e308.json": (("totals", "updates_per_s"), 1e308, "at totals/updates_per_s: 1e+308 is out of range"),
             "rate-1e18.json": (("totals", "updates_per_s"), 1e18, "(a rate is a number in 0..1e+15)"),
             "epoch-nan.json": (("epochs", 0, "updates_per_s"), float("nan"), "at epochs/0/updates_per_s: nan")}
    for name, (keys, value, _) in cases.items():
        doc = copy.deepcopy(good)
        doc["seed"] = name  # distinct contents: no file is a copy of another
        obj = doc
        for k in keys[:-1]:
            obj = obj[k]
        obj[keys[-1]] = value
        write_input(os.path.join(d, name), doc)
    write_input(os.path.join(d, "good.json"), good)
    deep = "[" * 50000 + "]" * 50000
    with open(os.path.join(d, "deep.json"), "w") as f:
        f.write(deep)
    with open(os.path.join(d, "deep-env.json"), "w") as f:
        bench = fixture_json("compare/A/bench.json")
        bench["context"]["sgdsync_environment"] = deep
        json.dump(bench, f)
    with open(os.path.join(d, "bench-cv-nan.json"), "w") as f:
        bench = fixture_json("compare/A/bench.json")
        row = dict(bench["benchmarks"][0], run_type="aggregate", aggregate_name="cv", spins=float("nan"))
        bench["benchmarks"].append(row)  # Google Benchmark's cv of a counter whose mean is 0
        json.dump(bench, f)
    recs = fixture_lines("compare/A/sweep.jsonl")
    with open(os.path.join(d, "sweep.jsonl"), "w") as f:
        f.write(json.dumps(recs[0]) + "\n" + '{"format": "sgdsync-sweep", "x": ' + deep + "}\n")
    expect = {name: msg for name, (_, _, msg) in cases.items()}
    expect.update({"deep.json": "JSON nested too deeply to read", "deep-env.json": "nested too deeply",
                   "sweep.jsonl:2": "nested too deeply"})
    r = report(os.path.join(d, "report"), d)
    check(r.returncode == 0, f"out-of-range inputs: exit status 0 with valid ones, got {r.returncode}")
    check("bench-cv-nan.json:" not in r.stderr, "an undefined aggregate (NaN cv) is absent, not a problem")
    problem_lines(r.stderr, expect)
    check(len(r.stderr.splitlines()) == len(expect), f"one line per problem: {r.stderr}")
    md = open(os.path.join(d, "report", "summary.md"), encoding="utf-8").read()
    check("2 converged of 2 runs." in md, "the valid run file and sweep record are reported")
    r = run([COMPARE, "--no-gbench", d, os.path.join(FIX, "compare", "B")])
    check(r.returncode == 0, f"compare with out-of-range inputs: exit status {r.returncode}: {r.stderr[-500:]}")
    problem_lines(r.stderr, {f"A: {os.path.join(d, 'deep.json')}": "nested too deeply"}, "sgdsync-compare")


def outputs_where_they_point(out):
    """--html and --markdown through a symbolic link (dangling too) replace its target and keep the
    link; a FIFO and a character device are written in place; a socket is refused (exit 2)."""
    import socket
    import stat
    import threading
    d = os.path.join(out, "targets")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "real"))
    good = os.path.join(FIX, "bad", "good-train.json")
    html_link, md_link = os.path.join(d, "report.html"), os.path.join(d, "summary.md")
    open(os.path.join(d, "real", "old.html"), "w").close()
    os.symlink("real/old.html", html_link)
    os.symlink("real/new.md", md_link)  # dangling
    r = run([REPORT, "-o", d, good])
    check(r.returncode == 0, f"through links: {r.stderr}")
    check(os.readlink(html_link) == "real/old.html" and os.readlink(md_link) == "real/new.md", "the links stay")
    check("<html" in open(os.path.join(d, "real", "old.html")).read().lower(), "the link's target holds the report")
    check(OUTCOMES_HEADER in open(os.path.join(d, "real", "new.md")).read(), "the dangling link's target is written")

    fifo = os.path.join(d, "fifo")
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, encoding="utf-8").read()))
    reader.start()
    r = run([REPORT, "-o", os.path.join(d, "o"), "--markdown", fifo, good])
    reader.join(30)
    check(r.returncode == 0 and stat.S_ISFIFO(os.lstat(fifo).st_mode), f"FIFO kept: {r.stderr}")
    check(got and OUTCOMES_HEADER in got[0], "the FIFO's reader got the summary")
    null = os.path.join(d, "null")
    try:
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a twin of /dev/null (root only)
    except PermissionError:
        null = None
    if null:
        r = run([COMPARE, "--no-gbench", "--html", null, os.path.join(FIX, "compare", "A"), os.path.join(FIX, "compare", "B")])
        check(r.returncode == 0 and stat.S_ISCHR(os.lstat(null).st_mode), f"character device kept: {r.stderr}")
    sock_path = os.path.join(d, "sock")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(sock_path)
    r = run([REPORT, "-o", d, "--html", sock_path, good])
    check(r.returncode == 2 and "not a regular file, a device or a FIFO" in r.stderr, f"socket refused: {r.stderr}")
    check(stat.S_ISSOCK(os.lstat(sock_path).st_mode), "the socket stays")
    sock.close()


def copies_count_once(out):
    """A copied file is skipped and counted as a duplicate; a sweep record in two files (an older
    copy of a sweep) is one run, crashed or not."""
    d = os.path.join(out, "copies")
    recs = fixture_lines("compare/A/sweep.jsonl") + [crashed(fixture_lines("compare/A/sweep.jsonl")[0], 3)]
    for side in ("a", "b"):
        write_input(os.path.join(d, side, "sweep.jsonl"), recs, lines=True)
        shutil.copy(os.path.join(FIX, "compare", "A", "bench.json"), os.path.join(d, side, "bench.json"))
    write_input(os.path.join(d, "older", "sweep.jsonl"), [recs[3], recs[0]], lines=True)
    r = report(d, d)
    check(r.returncode == 0 and r.stderr == "", f"copies: {r.stderr}")
    md = open(os.path.join(d, "summary.md"), encoding="utf-8").read()
    check("Inputs: 3 valid file(s), 2 duplicate file(s) skipped (same content as another input)." in md,
          "the copies are counted as duplicates")
    check("3 converged, 1 crashed of 4 runs." in md, "each run once")
    ds = load_results(d)
    check(len(ds.bench) == 6, f"each benchmark result once: {len(ds.bench)}")


def line_separators_in_strings(out):
    """U+2028 and U+0085 inside a string of a sweep record (cJSON writes them unescaped) do not
    end the line."""
    d = os.path.join(out, "separators")
    recs = fixture_lines("compare/A/sweep.jsonl")
    recs[0]["result"]["outcome_detail"] = "first\u2028second\u0085third"
    write_input(os.path.join(d, "sweep.jsonl"), recs, lines=True)
    r = report(d, d)
    check(r.returncode == 0 and r.stderr == "", f"line separators inside strings: {r.stderr}")
    md = open(os.path.join(d, "summary.md"), encoding="utf-8").read()
    check("3 converged of 3 runs." in md, "every record read")


def unwritable_outputs(out):
    """An output that cannot be written is a usage error (exit 2, one line), found before any work;
    a missing directory is created."""
    d = os.path.join(out, "outputs")
    os.makedirs(os.path.join(d, "a-directory"), exist_ok=True)
    a_file = os.path.join(d, "a-file")
    open(a_file, "w").close()
    good = os.path.join(FIX, "bad", "good-train.json")
    a, b = os.path.join(FIX, "compare", "A"), os.path.join(FIX, "compare", "B")
    for prog, cmd in (("sgdsync-report", [REPORT, "-o", a_file, good]),
                      ("sgdsync-report", [REPORT, "-o", d, "--html", os.path.join(d, "a-directory"), good]),
                      ("sgdsync-compare", [COMPARE, "--markdown", os.path.join(a_file, "x.md"), a, b]),
                      ("sgdsync-compare", [COMPARE, "--html", os.path.join(d, "a-directory"), a, b])):
        r = run(cmd)
        check(r.returncode == 2, f"{cmd[1:]}: exit status 2, got {r.returncode}")
        check(r.stderr.startswith(prog + ": ") and "Traceback" not in r.stderr, f"{cmd[1:]}: one line: {r.stderr}")
    md = os.path.join(d, "missing", "dir", "summary.md")
    r = run([REPORT, "-o", d, "--markdown", md, good])
    check(r.returncode == 0 and os.path.exists(md), f"a missing directory is created: {r.stderr}")


def case_compare(out):
    """Known ratios: bench 2.0 at 1 thread and 1.0 at 2 threads, training 0.5 (B slower), time to
    target 0.5 (B faster); 3 against 3 fully separated repetitions give p = 0.1 exactly."""
    md_path = os.path.join(out, "compare.md")
    html_path = os.path.join(out, "compare.html")
    r = run([COMPARE, os.path.join(FIX, "compare", "A"), os.path.join(FIX, "compare", "B"),
             "--markdown", md_path, "--html", html_path])
    check(r.returncode == 0, f"exit status {r.returncode}: {r.stderr}")
    text = r.stdout
    rows = compare_rows(md_path)
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
    for alpha in ("0", "1.5"):
        r = run([COMPARE, "--alpha", alpha, os.path.join(FIX, "compare", "A"), os.path.join(FIX, "compare", "B")])
        check(r.returncode == 2 and "sgdsync-compare: error: --alpha" in r.stderr, f"--alpha {alpha} refused: {r.stderr}")
    nan_is_no_sample(out)
    error_rows_left_to_us(out)
    sweep_matches_run_files(out)


def compare_rows(md_path):
    """{(kind, configuration): cells} of the ratios table of a Markdown comparison."""
    rows = {}
    for line in open(md_path, encoding="utf-8"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 10 and cells[0] != "kind" and not cells[0].startswith("-"):
            rows[(cells[0], cells[1])] = cells
    return rows


def nan_is_no_sample(out):
    """A NaN throughput is dropped before the test: 2 against 3 repetitions, not a NaN p read as
    significant."""
    recs = fixture_lines("compare/A/sweep.jsonl")
    recs[1]["result"]["totals"]["updates_per_s"] = float("nan")
    a = os.path.join(out, "nan", "A", "sweep.jsonl")
    write_input(a, recs, lines=True)
    md = os.path.join(out, "nan", "compare.md")
    r = run([COMPARE, "--no-gbench", "--markdown", md, a, os.path.join(FIX, "compare", "B", "sweep.jsonl")])
    check(r.returncode == 0, f"NaN sample: {r.stderr}")
    row = compare_rows(md).get(("training", "leashed 2 thr"))
    check(row is not None and row[6:] == ["0.2", "2", "3", "no significant difference"],
          f"NaN dropped: p 0.2 from 2 against 3: {row}")


def error_rows_left_to_us(out):
    """Benchmark rows that report an error (real time 0) are not passed to compare.py, which
    would show them as 100 % faster."""
    bench = fixture_json("compare/B/bench.json")
    for row in bench["benchmarks"]:
        if row["threads"] == 1:
            row.update(error_occurred=True, error_message="setup failed", real_time=0, cpu_time=0)
            del row["items_per_second"]
    b = os.path.join(out, "error-rows", "B", "bench.json")
    write_input(b, bench)
    r = run([COMPARE, os.path.join(FIX, "compare", "A", "bench.json"), b])
    table = r.stdout.split("compare.py")[-1]
    check(r.returncode == 0 and "threads:2" in table, f"compare.py table for the good rows: {r.stderr}")
    check("threads:1" not in table, f"no compare.py row for the failed benchmark: {table}")


def sweep_matches_run_files(out):
    """A sweep record holds the requested config, its run file the resolved one (steps per epoch
    worked out): they are one configuration, and a crashed run of the same request joins it."""
    recs = fixture_lines("compare/A/sweep.jsonl")
    for rec in recs:
        rec["result"]["config"]["steps_per_epoch"] = 58
    d = os.path.join(out, "resolved")
    write_input(os.path.join(d, "sweep.jsonl"), recs + [crashed(recs[0], 3)], lines=True)
    for rec in recs:
        write_input(os.path.join(d, "runs", rec["key"] + ".json"), rec["result"])
    md = os.path.join(d, "compare.md")
    r = run([COMPARE, "--no-gbench", "--markdown", md, os.path.join(d, "sweep.jsonl"), os.path.join(d, "runs")])
    check(r.returncode == 0 and "Only in" not in r.stdout, f"sweep and run files match: {r.stdout}")
    row = compare_rows(md).get(("training", "leashed 2 thr"))
    check(row is not None and row[7:9] == ["3", "3"], f"the same three runs on both sides: {row}")
    ds = load_results(d)
    check([r.config["steps_per_epoch"] for r in ds.runs] == [58] * 4, "the crashed run takes the resolved config")
    crashed_env_is_its_machine(out, recs)


def crashed_env_is_its_machine(out, recs):
    """A crashed record that carries the environment (sgdsync-sweep writes it where result is
    null) is placed on that machine; one without stays on none."""
    with_env = dict(crashed(recs[0], 3), environment=recs[0]["result"]["environment"])
    d = os.path.join(out, "crashed-env")
    write_input(os.path.join(d, "sweep.jsonl"), [recs[0], with_env, crashed(recs[0], 4)], lines=True)
    ds = load_results(d)
    envs = {r.repetition: r.env for r in ds.runs}
    check(envs[3] is not None and envs[3] == envs[recs[0]["repetition"]] and envs[4] is None,
          f"the crashed run's environment is the completed run's: {envs}")


def case_sweep_machines(out):
    """Shards of one sweep from two kinds of machine: each kind keeps its own rows (a crashed run
    without a result goes to its host's), and two nodes of one kind (host names differ, the
    hardware does not) share theirs."""
    d = os.path.join(out, "sweep-machines")
    recs = fixture_lines("compare/A/sweep.jsonl")

    def on(rec, **env):
        rec = copy.deepcopy(rec)
        rec["result"]["environment"].update(env)
        return dict(rec, hostname=rec["result"]["environment"]["hostname"])

    write_input(os.path.join(d, "s.jsonl.submit-1.shard-0.jsonl"), [on(r) for r in recs], lines=True)
    write_input(os.path.join(d, "s.jsonl.submit-1.shard-1.jsonl"),
                [on(r, hostname="node-2", date="2026-11-21T10:00:00Z") for r in recs], lines=True)
    other = [on(r, hostname="epyc-box", cpu_model="AMD EPYC 9654") for r in recs]
    write_input(os.path.join(d, "s.jsonl.submit-1.shard-2.jsonl"),
                other + [dict(crashed(recs[0], 3), hostname="epyc-box")], lines=True)
    r = report(d, d)
    check(r.returncode == 0 and r.stderr == "", f"shards of two kinds of machine: {r.stderr}")
    rows = md_outcome_rows(open(os.path.join(d, "summary.md"), encoding="utf-8").read())
    xeon = {k: v for k, v in rows.items() if "Xeon" in k}
    epyc = {k: v for k, v in rows.items() if "EPYC 9654" in k}
    # The fixture's records are repetitions of one configuration: one row per kind of machine.
    check(len(xeon) == 1 and len(epyc) == 1 and len(rows) == 2, f"a row per kind of machine: {sorted(rows)}")
    check([v[-1] for v in xeon.values()] == [2 * len(recs)], f"numa-box and node-2 share a row: {xeon}")
    check([(v[3], v[-1]) for v in epyc.values()] == [(1, len(recs) + 1)],
          f"the crashed run in epyc-box's row: {epyc}")


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
