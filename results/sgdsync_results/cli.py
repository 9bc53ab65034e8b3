"""Command lines of sgdsync-report and sgdsync-compare.

Exit status: 0 when at least one input was valid (problems with the others are reported on
stderr, one line per file); 1 when no input was valid; 2 for a usage error."""

import argparse
import os
import stat
import sys
import tempfile

from . import compare, html, load, markdown, sections


def _stream(path):
    """Whether path names (through its links) a character device or a FIFO: written in place,
    since a rename would replace /dev/null or a pipe by a regular file."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def write_atomic(path, text):
    """Writes text to path through a temporary file in the same directory and a rename, so a
    reader never sees half a report and an old report survives a failed run. A symbolic link
    (a dangling one too) is followed, and its target replaced; a device or FIFO is written in
    place."""
    if _stream(path):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return
    target = os.path.realpath(path)
    d = os.path.dirname(target)
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def _output_problem(path):
    """Why path cannot be written as an output, or None. Missing directories are created."""
    if _stream(path):
        return None if os.access(path, os.W_OK) else "cannot write it"
    target = os.path.realpath(path)
    if os.path.exists(target) and not os.path.isfile(target):
        kind = "a directory" if os.path.isdir(target) else "not a regular file, a device or a FIFO"
        return f"links to {target}, which is {kind}" if os.path.islink(path) else f"is {kind}"
    d = os.path.dirname(target)
    while not os.path.exists(d):
        d = os.path.dirname(d)
    if not os.path.isdir(d):
        return f"{d} is not a directory"
    if not os.access(d, os.W_OK | os.X_OK):
        return f"cannot write in {d}"
    return None


def _check_outputs(prog, paths):
    """Prints one line per output that cannot be written; True when all can."""
    problems = [(path, _output_problem(path)) for path in paths if path]
    for path, problem in problems:
        if problem:
            print(f"{prog}: {path}: {problem}", file=sys.stderr)
    return not any(problem for _, problem in problems)


def _write_outputs(prog, outputs):
    """Writes {path: text}; a failure is one line on stderr and False."""
    for path, text in outputs.items():
        try:
            write_atomic(path, text)
        except OSError as e:
            print(f"{prog}: {path}: cannot write: {e.strerror}", file=sys.stderr)
            return False
    return True


def _load_reporting(prog, paths, label=""):
    ds = load.load(paths)
    for e in ds.errors:
        print(f"{prog}: {label}{e}", file=sys.stderr)
    return ds


def report_main(argv):
    p = argparse.ArgumentParser(prog="sgdsync-report", description=
                                "Builds one self-contained HTML report and a Markdown summary from sgdsync "
                                "result files (micro-benchmark JSON, training-run JSON, sweep JSON Lines). "
                                "Directories are scanned recursively for *.json and *.jsonl.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="result files or directories")
    p.add_argument("-o", "--output-dir", default=".", help="where report.html and summary.md go (default: .)")
    p.add_argument("--html", help="HTML report path (default: OUTPUT_DIR/report.html)")
    p.add_argument("--markdown", help="Markdown summary path (default: OUTPUT_DIR/summary.md)")
    p.add_argument("--title", default="sgdsync report")
    args = p.parse_args(argv)
    html_path = args.html or os.path.join(args.output_dir, "report.html")
    md_path = args.markdown or os.path.join(args.output_dir, "summary.md")
    if not _check_outputs("sgdsync-report", (html_path, md_path)):
        return 2
    ds = _load_reporting("sgdsync-report", args.inputs)
    if not ds.inputs:
        print("sgdsync-report: no valid input: nothing to report", file=sys.stderr)
        return 1
    report = sections.build(ds, args.title)
    if not _write_outputs("sgdsync-report", {html_path: html.render(report),
                                             md_path: markdown.render(report, os.path.basename(html_path))}):
        return 2
    print(f"sgdsync-report: {len(ds.inputs)} input(s), {len(ds.duplicates)} duplicate(s) skipped, "
          f"{len(ds.errors)} problem(s)")
    print(f"report:  {html_path}")
    print(f"summary: {md_path}")
    return 0


def compare_main(argv):
    p = argparse.ArgumentParser(prog="sgdsync-compare", description=
                                "Compares two sets of sgdsync results (A, the baseline, and B): ratio B/A per "
                                "configuration and a Mann-Whitney U test over repetitions.")
    p.add_argument("a", metavar="A", help="baseline: a result file or directory")
    p.add_argument("b", metavar="B", help="candidate: a result file or directory")
    p.add_argument("--markdown", help="also write the comparison as Markdown to this file")
    p.add_argument("--html", help="also write the comparison as a self-contained HTML page")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument("--no-gbench", action="store_true",
                   help="skip libbenchmark-tools' compare.py tables for the micro-benchmarks")
    args = p.parse_args(argv)
    if not 0 < args.alpha < 1:
        p.error(f"--alpha {args.alpha:g}: a significance level is between 0 and 1")
    if not _check_outputs("sgdsync-compare", (args.markdown, args.html)):
        return 2
    a = _load_reporting("sgdsync-compare", [args.a], "A: ")
    b = _load_reporting("sgdsync-compare", [args.b], "B: ")
    for side, ds in (("A", a), ("B", b)):
        if not ds.inputs:
            print(f"sgdsync-compare: {side}: no valid input", file=sys.stderr)
            return 1
    result = compare.compare(a, b, args.alpha)
    print(compare.render_text(result, args.alpha))
    if not args.no_gbench:
        for title, text in compare.gbench_tables(a, b):
            print(f"\n{title}\n{text}")
    outputs = {}
    if args.markdown:
        outputs[args.markdown] = compare.render_markdown(result, args.alpha, args.a, args.b)
    if args.html:
        outputs[args.html] = compare.render_html(result, args.alpha, args.a, args.b)
    return 0 if _write_outputs("sgdsync-compare", outputs) else 2
