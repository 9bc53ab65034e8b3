"""Reading and validating sgdsync result files.

Three kinds of input, told apart by their contents (results/README.md):
  Google Benchmark JSON whose context says sgdsync_format = "sgdsync-bench";
  a training-run file, {"format": "sgdsync-train", ...};
  a sweep file, JSON Lines of {"format": "sgdsync-sweep", ...}.
Every problem is recorded as one message naming the file (and line) and what is wrong; the
valid inputs are kept, so that one bad file never hides the others.
"""

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Optional

import jsonschema

from . import FORMAT_VERSION
from .analysis import REPETITION_KEYS, config_key

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schema")
RESULT_SUFFIXES = (".json", ".jsonl")

# Google Benchmark's own fields; every other numeric field of a benchmark is a user counter.
GBENCH_FIELDS = {
    "name", "family_index", "per_family_instance_index", "run_name", "run_type", "repetitions",
    "repetition_index", "threads", "iterations", "real_time", "cpu_time", "time_unit",
    "aggregate_name", "aggregate_unit", "label", "error_occurred", "error_message",
    "items_per_second", "bytes_per_second", "big_o", "rms", "complexity_n", "skipped",
}
TIME_UNIT_S = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
MACHINE_KEYS = ("hostname", "cpu_model", "topology")

# Bounds no honest result crosses, checked at load time so that the report never sees the rest:
# sgdsync's documents nest a few levels, its figures fit 64-bit counters, its thread counts a
# machine and its rates (operations per second, all threads) any hardware.
MAX_DEPTH = 32
MAX_MAGNITUDE = 2.0 ** 64
MAX_THREADS = 1 << 16
MAX_RATE = 1e15


class ResultError(Exception):
    """A problem with one input; str() is the message without the file name."""


@dataclass
class Environment:
    data: dict
    sources: list = field(default_factory=list)

    @property
    def machine_id(self):
        """Same machine, build and counters: everything but the date, the command line and why a
        counter backend was skipped (a reason can name a temporary file with a process id)."""
        keep = {k: v for k, v in self.data.items() if k not in ("date", "command_line")}
        counters = keep["counters"]
        keep["counters"] = dict(counters, skipped=[sk["backend"] for sk in counters["skipped"]])
        return _digest(keep)

    @property
    def machine(self):
        """Coarser than machine_id: the hardware alone (host name, CPU and topology)."""
        return _digest({k: self.data[k] for k in MACHINE_KEYS})


@dataclass
class BenchPoint:
    """One measured benchmark run (one repetition of one name)."""
    source: str
    env: Optional[str]     # machine_id of its environment
    machine: str           # Environment.machine of its environment
    binary: str            # executable's base name
    name: str              # run_name: the full name without aggregate suffix
    topic: str             # first name component: atomics, chain, locks, kernels, ...
    primitive: str         # second component
    variant: tuple         # remaining plain components
    params: dict           # key=value components
    threads: int
    repetition: int
    throughput: Optional[float]  # operations per second, all threads together
    real_time_s: Optional[float]
    counters: dict         # user counters, as Google Benchmark wrote them
    error: Optional[str] = None
    machine_name: str = ""  # set where the benchmarks come from more than one machine

    @property
    def series(self):
        """The name without the thread count (and with the machine, where there are several):
        one line in a throughput-vs-threads plot."""
        return series_name(self.name) + (f" on {self.machine_name}" if self.machine_name else "")


@dataclass
class Run:
    """One training run: from a training-run file or a sweep record."""
    source: str
    env: Optional[str]
    config: dict
    repetition: Optional[int]
    outcome: str
    detail: str
    result: Optional[dict]  # the training-run object, None when crashed or timed out
    wall_s: Optional[float]
    exit_status: Optional[int] = None
    signal: object = None
    requested: Optional[dict] = None  # a sweep record's config as requested, before resolution
    host: Optional[str] = None  # a sweep record's host: where a run without a result ran


@dataclass
class Dataset:
    envs: dict = field(default_factory=dict)     # machine_id -> Environment
    bench: list = field(default_factory=list)    # BenchPoint
    runs: list = field(default_factory=list)     # Run
    errors: list = field(default_factory=list)   # "FILE: message"
    inputs: list = field(default_factory=list)   # (path, kind, items read)
    duplicates: list = field(default_factory=list)  # paths skipped: the same content as a valid input

    def add_env(self, data, source):
        env = Environment(data)
        key = env.machine_id
        self.envs.setdefault(key, env).sources.append((source, data.get("date", ""), data.get("command_line", "")))
        return key


def _digest(obj):
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


GBENCH_SUFFIXES = ("real_time", "process_time", "manual_time")
GBENCH_KEYS = ("threads", "min_time", "min_warmup_time", "repeats", "iterations")
KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_.-]*)[:=](.*)$")


def _gbench_part(part):
    """Google Benchmark's own name components: threads:N, min_time:, repeats:, real_time."""
    m = KEY.match(part)
    return part in GBENCH_SUFFIXES or (m is not None and m.group(1) in GBENCH_KEYS)


def series_name(name):
    """The name without the thread count and Google Benchmark's suffixes: one line in a
    throughput-vs-threads plot."""
    return "/".join(p for p in name.split("/") if not _gbench_part(p))


_SCHEMAS = {}


def _validator(kind):
    if kind not in _SCHEMAS:
        with open(os.path.join(SCHEMA_DIR, kind + ".schema.json"), encoding="utf-8") as f:
            schema = json.load(f)
        _SCHEMAS[kind] = jsonschema.Draft202012Validator(schema)
    return _SCHEMAS[kind]


def validate(kind, obj, where=""):
    """Raises ResultError naming the first (most relevant) schema violation."""
    err = jsonschema.exceptions.best_match(_validator(kind).iter_errors(obj))
    if err is None:
        return
    path = "/".join(str(p) for p in err.absolute_path)
    loc = (where + "/" + path).strip("/")
    raise ResultError(f"{kind} schema: {'at ' + loc + ': ' if loc else ''}{err.message}")


def parse_json(text):
    """json.loads, with a document nested beyond what Python's parser can recurse into as a
    ResultError (Python raises RecursionError)."""
    try:
        doc = json.loads(text)
    except RecursionError:
        raise ResultError("JSON nested too deeply to read")
    drop_undefined_aggregates(doc)
    check_values(doc)
    return doc


def drop_undefined_aggregates(doc):
    """Google Benchmark writes NaN for an aggregate that is undefined (the cv of a counter whose
    mean is 0, in every run with repetitions): such a value is absent, not a broken file."""
    rows = doc.get("benchmarks") if isinstance(doc, dict) else None
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and row.get("run_type") == "aggregate":
            for k in [k for k, v in row.items() if isinstance(v, float) and math.isnan(v)]:
                del row[k]


def check_values(doc):
    """Raises ResultError for a document nested deeper than MAX_DEPTH, or with a number that is
    not finite or beyond MAX_MAGNITUDE (Python's json reads NaN, Infinity and 1e999)."""
    stack = [(doc, 1, "")]
    while stack:
        obj, depth, where = stack.pop()
        if depth > MAX_DEPTH:
            raise ResultError(f"nested more than {MAX_DEPTH} levels deep (at {where.lstrip('/')}); "
                              "sgdsync results nest a few levels")
        if isinstance(obj, dict):
            stack += [(v, depth + 1, f"{where}/{k}") for k, v in obj.items()]
        elif isinstance(obj, list):
            stack += [(v, depth + 1, f"{where}/{i}") for i, v in enumerate(obj)]
        elif isinstance(obj, (int, float)) and not isinstance(obj, bool) and \
                not (math.isfinite(obj) and abs(obj) <= MAX_MAGNITUDE):
            raise ResultError(f"at {where.lstrip('/')}: {obj!r} is out of range (a finite number "
                              f"of magnitude at most 2^64)")


def check_range(obj, key, lo, hi, what, where="", integer=False):
    """Raises ResultError unless obj[key], where present and not null, lies in lo..hi."""
    v = obj.get(key) if isinstance(obj, dict) else None
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return
    if not lo <= v <= hi or (integer and v != int(v)):
        loc = (where + "/" + key).strip("/")
        raise ResultError(f"at {loc}: {v!r} is out of range ({what} is "
                          f"{'an integer' if integer else 'a number'} in {lo:g}..{hi:g})")


def check_config_ranges(config, where):
    check_range(config, "threads", 1, MAX_THREADS, "a thread count", where, integer=True)


def check_train_ranges(doc, where=""):
    """The figures of a training-run object that plots and tables compute with."""
    check_config_ranges(doc["config"], (where + "/config").strip("/"))
    check_range(doc["totals"], "updates_per_s", 0, MAX_RATE, "a rate", (where + "/totals").strip("/"))
    for i, epoch in enumerate(doc["epochs"]):
        check_range(epoch, "updates_per_s", 0, MAX_RATE, "a rate", f"{where}/epochs/{i}".strip("/"))


def check_format(expected, version):
    if version != FORMAT_VERSION:
        raise ResultError(f"format {expected!r} version {version!r} is not supported "
                  f"(this reader reads version {FORMAT_VERSION} only)")


def collect_paths(args, errors):
    """Files as given; directories scanned recursively for *.json and *.jsonl."""
    paths = []
    for arg in args:
        if os.path.isdir(arg):
            found = []
            for root, dirs, files in os.walk(arg):
                dirs.sort()
                found += [os.path.join(root, f) for f in sorted(files) if f.endswith(RESULT_SUFFIXES)]
            if not found:
                errors.append(f"{arg}: no .json or .jsonl files in this directory")
            paths += found
        elif os.path.exists(arg):
            paths.append(arg)
        else:
            errors.append(f"{arg}: no such file or directory")
    return paths


def load(args):
    """Reads every result under args (files and directories) into one Dataset."""
    ds = Dataset()
    real_paths, contents = set(), set()  # a file named twice is read once; a copy is skipped
    for path in collect_paths(args, ds.errors):
        real = os.path.realpath(path)
        if real in real_paths:
            continue
        real_paths.add(real)
        try:
            with open(path, "rb") as f:
                raw = f.read()
            digest = hashlib.sha1(raw).digest()
            if digest in contents:
                ds.duplicates.append(path)
                continue
            kind, n = _load_file(ds, path, raw)
            contents.add(digest)
            ds.inputs.append((path, kind, n))
        except ResultError as e:
            ds.errors.append(f"{path}: {e}")
        except OSError as e:
            ds.errors.append(f"{path}: cannot read: {e.strerror}")
        except Exception as e:  # one file's unforeseen problem must not hide the others
            ds.errors.append(f"{path}: cannot be read as a result: {type(e).__name__}: {e}")
    _drop_duplicate_runs(ds)
    _resolve_failed_configs(ds)
    _name_machines(ds)
    _name_run_hardware(ds)
    return ds


def _load_file(ds, path, raw):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ResultError(f"not UTF-8 text (byte {e.start})")
    if not text.strip():
        raise ResultError("empty file")
    try:
        doc = parse_json(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data" or path.endswith(".jsonl"):
            return "sweep", _load_lines(ds, path, text)
        raise ResultError(f"malformed JSON: {e.msg} at line {e.lineno} column {e.colno}")
    if not isinstance(doc, dict):
        raise ResultError(f"expected a JSON object, found {type(doc).__name__}")
    if "format" in doc:
        fmt = doc["format"]
        if fmt == "sgdsync-train":
            _add_train(ds, path, doc)
            return "train", 1
        if fmt == "sgdsync-sweep":  # a one-line sweep file
            return "sweep", _load_lines(ds, path, text)
        raise ResultError(f"unknown format {fmt!r} (expected sgdsync-train, sgdsync-sweep or Google Benchmark JSON)")
    if "benchmarks" in doc and "context" in doc:
        return "bench", _add_bench(ds, path, doc)
    raise ResultError("not an sgdsync result: no \"format\" key, and not Google Benchmark JSON")


def _load_lines(ds, path, text):
    """A sweep file: each line on its own, so a torn last line loses only itself."""
    good = 0
    for lineno, line in enumerate(text.split("\n"), 1):  # not splitlines: U+2028 may sit inside a string
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            try:
                rec = parse_json(line)
            except json.JSONDecodeError as e:
                raise ResultError(f"malformed JSON: {e.msg} at column {e.colno}")
            if not isinstance(rec, dict) or rec.get("format") != "sgdsync-sweep":
                raise ResultError("not a sweep record (expected \"format\": \"sgdsync-sweep\")")
            _add_sweep(ds, where, rec)
            good += 1
        except ResultError as e:
            ds.errors.append(f"{where}: {e}")
        except Exception as e:  # as in load: one line's unforeseen problem stays its own
            ds.errors.append(f"{where}: cannot be read as a result: {type(e).__name__}: {e}")
    if good == 0:
        raise ResultError("no valid sweep record")
    return good


def _train_env(ds, source, result):
    validate("environment", result["environment"], "environment")
    return ds.add_env(result["environment"], source)


def _add_train(ds, source, doc):
    check_format("sgdsync-train", doc.get("version"))
    validate("train", doc)
    check_train_ranges(doc)
    env = _train_env(ds, source, doc)
    ds.runs.append(Run(source, env, doc["config"], None, doc["outcome"], doc.get("outcome_detail", ""),
               doc, doc["totals"]["wall_s"]))


def _add_sweep(ds, source, rec):
    check_format("sgdsync-sweep", rec.get("version"))
    validate("sweep", rec)
    check_config_ranges(rec["config"], "config")
    result = rec["result"]
    env = None
    if result is not None:
        check_format("sgdsync-train", result.get("version"))
        validate("train", result, "result")
        check_train_ranges(result, "result")
        env = _train_env(ds, source, result)
    elif "environment" in rec:  # a crashed or timed-out run, recorded by a newer sweep
        env = _train_env(ds, source, rec)
    detail = result.get("outcome_detail", "") if result else ""
    if rec["signal"] is not None:
        detail = (detail + f" (signal {rec['signal']})").strip()
    config = result["config"] if result is not None else rec["config"]
    if rec.get("reason"):
        detail = (detail + f" ({rec['reason']})").strip()
    ds.runs.append(Run(source, env, config, rec["repetition"], rec["outcome"], detail,
               result, rec["wall_s"], rec["exit_status"], rec["signal"], rec["config"],
               rec.get("hostname")))


def _run_identity(run):
    """Equal for the same run read twice: its result, or for a crashed or timed-out run (no
    result) the whole sweep record."""
    if run.result is not None:
        return _digest(run.result)
    return _digest([run.requested, run.repetition, run.outcome, run.wall_s, run.exit_status, run.signal,
                    run.host])


def _drop_duplicate_runs(ds):
    """A run read twice (from its own file and a sweep record, or from two sweep files that
    share records) is counted once (the sweep's, which knows the repetition)."""
    seen = set()
    keep = []
    for run in sorted(ds.runs, key=lambda r: r.repetition is None):
        key = _run_identity(run)
        if key not in seen:
            seen.add(key)
            keep.append(run)
    ds.runs = keep


def _resolve_failed_configs(ds):
    """A sweep record's config is the requested one, a result's the resolved one (epochs and
    steps per epoch worked out from the data set). A crashed or timed-out run has no result: it
    takes the resolution of a run with the same request, so that both are one configuration."""
    resolved = {config_key(r.requested): r.config for r in ds.runs if r.result is not None and r.requested}
    for run in ds.runs:
        same = resolved.get(config_key(run.requested)) if run.result is None else None
        if same is not None:
            run.config = dict(same, **{k: v for k, v in run.requested.items() if k in REPETITION_KEYS})


def _name_machines(ds):
    """Names the machines the benchmarks ran on where there are several, so that their series
    stay apart: the host name, with CPU and hardware threads where hosts share a name, numbered
    where even those coincide."""
    machines = {}
    for p in ds.bench:
        machines.setdefault(p.machine, ds.envs[p.env].data)
    if len(machines) < 2:
        return
    names = [d["hostname"] for d in machines.values()]
    if len(set(names)) < len(names):
        names = [f"{d['hostname']} ({d['cpu_model']}, {d['topology']['pus']} PUs)" for d in machines.values()]
    if len(set(names)) < len(names):
        names = [f"{name} #{i}" for i, name in enumerate(names, 1)]
    named = dict(zip(machines, names))
    for p in ds.bench:
        p.machine_name = named[p.machine]


def _add_bench(ds, path, doc):
    ctx = doc["context"]
    if not isinstance(ctx, dict) or "sgdsync_format" not in ctx:
        raise ResultError("Google Benchmark JSON without sgdsync context (no sgdsync_format); "
                  "not written by an sgdsync-bench-* binary")
    if ctx["sgdsync_format"] != "sgdsync-bench":
        raise ResultError(f"unknown sgdsync_format {ctx['sgdsync_format']!r} (expected sgdsync-bench)")
    try:
        version = int(ctx.get("sgdsync_version"))
    except (TypeError, ValueError):
        version = ctx.get("sgdsync_version")
    check_format("sgdsync-bench", version)
    validate("bench", doc)
    try:
        envdata = parse_json(ctx["sgdsync_environment"])
    except json.JSONDecodeError as e:
        raise ResultError(f"context sgdsync_environment is not valid JSON: {e.msg}")
    validate("environment", envdata, "context/sgdsync_environment")
    env = ds.add_env(envdata, path)
    binary = os.path.basename(ctx.get("executable", "")) or os.path.basename(path)
    points = _bench_points(path, env, ds.envs[env].machine, binary, doc["benchmarks"])
    if not points:
        raise ResultError("no benchmark results in \"benchmarks\"")
    ds.bench += points
    return len(points)


def parse_name(name):
    """'locks/ttas/backoff:exp/cs:64/threads:8/real_time' ->
    ('locks', 'ttas', (), {'backoff': 'exp', 'cs': '64'}, 8). Arguments are key:value (Google
    Benchmark's ArgNames) or key=value; other components are variant names."""
    parts = name.split("/")
    topic = parts[0]
    primitive = parts[1] if len(parts) > 1 else ""
    variant, params, threads = [], {}, None
    for p in parts[2:]:
        m = KEY.match(p)
        if p.startswith("threads:"):
            threads = int(p.split(":", 1)[1])
        elif _gbench_part(p):
            continue
        elif m:
            params[m.group(1)] = m.group(2)
        else:
            variant.append(p)
    return topic, primitive, tuple(variant), params, threads


def _bench_points(path, env, machine, binary, rows):
    points, aggregates = [], {}
    for i, row in enumerate(rows):
        check_range(row, "threads", 1, MAX_THREADS, "a thread count", f"benchmarks/{i}", integer=True)
        for rate in ("items_per_second", "bytes_per_second"):
            check_range(row, rate, 0, MAX_RATE, "a rate", f"benchmarks/{i}")
        name = row.get("run_name", row["name"])
        if row.get("run_type") == "aggregate":
            aggregates.setdefault(name, {})[row.get("aggregate_name", "")] = row
            continue
        if "real_time" not in row and not row.get("error_occurred"):
            continue  # BigO and RMS rows
        points.append(_bench_point(path, env, machine, binary, name, row))
    measured = {p.name for p in points}
    for name, aggs in aggregates.items():
        row = aggs.get("median") or aggs.get("mean")
        if name not in measured and row is not None:  # --benchmark_report_aggregates_only
            points.append(_bench_point(path, env, machine, binary, name, row))
    return points


def _bench_point(path, env, machine, binary, name, row):
    topic, primitive, variant, params, threads = parse_name(name)
    threads = row.get("threads", threads or 1)
    real_s = None
    if isinstance(row.get("real_time"), (int, float)) and row.get("real_time") > 0:
        real_s = row["real_time"] * TIME_UNIT_S.get(row.get("time_unit", "ns"), 1e-9)
    throughput = row.get("items_per_second")
    if throughput is None and real_s:
        throughput = 1.0 / real_s  # Google Benchmark divides real time by all threads' iterations
    counters = {k: v for k, v in row.items()
            if k not in GBENCH_FIELDS and isinstance(v, (int, float)) and not isinstance(v, bool)}
    error = row.get("error_message") if row.get("error_occurred") else None
    if error is not None:
        throughput, counters = None, {}
    return BenchPoint(path, env, machine, binary, name, topic, primitive, variant, params, threads,
              row.get("repetition_index", 0), throughput, real_s, counters, error)


HARDWARE_KEYS = ("cpu_model", "topology")


def _name_run_hardware(ds):
    """Training runs on different hardware never share a configuration: where the runs come from
    several kinds of machine, each run's config gains "machine" (CPU and PUs), which tables and
    labels then keep apart. Nodes of one kind (a cluster partition: host names differ, the
    hardware does not) stay one. A run without a result (crashed, timeout) takes the kind of the
    other runs of its sweep record's host."""
    kind_of_env = {e: _digest({k: ds.envs[e].data[k] for k in HARDWARE_KEYS}) for e in ds.envs}
    kinds = {kind_of_env[r.env] for r in ds.runs if r.env is not None}
    if len(kinds) < 2:
        return
    name_of = {}
    for e, kind in kind_of_env.items():
        d = ds.envs[e].data
        name_of.setdefault(kind, f"{d['cpu_model']}, {d['topology']['pus']} PUs")
    if len(set(name_of.values())) < len(name_of):
        name_of = {kind: f"{name} #{i}" for i, (kind, name) in enumerate(name_of.items(), 1)}
    host_kinds = {}
    for e, kind in kind_of_env.items():
        host_kinds.setdefault(ds.envs[e].data["hostname"], set()).add(kind)
    for run in ds.runs:
        kind = kind_of_env[run.env] if run.env is not None else None
        if kind is None and len(host_kinds.get(run.host, ())) == 1:
            kind = next(iter(host_kinds[run.host]))
        run.config = dict(run.config, machine=name_of[kind] if kind else f"unknown ({run.host or 'no host'})")
