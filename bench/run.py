"""Benchmark epicsca against PyEpics 3.5.10 and a C client, side by side, on one libca.

Usage::

    python bench/run.py [--quick] [--only NAME[,NAME...]] [--tools c,pyepics,epicsca]
                        [--reps K] [--seconds T] [--n N] [--stat best|median]

What it does, in order:

1. compiles the C programs in bench/c/ against the epicscorelibs wheel (headers, libca; rpath set
   to the wheel's lib directory) into bench/build/;
2. makes, once, a venv bench/.venv-pyepics with ``pyepics==3.5.10`` and the same epicscorelibs
   version, and runs it with ``PYEPICS_LIBCA`` pointing at this interpreter's epicscorelibs libca,
   the same file the C programs link and epicsca loads;
3. starts the bench IOC (bench/ioc.py: N counter records at 10 Hz, an 8 MB waveform) on a free
   loopback port, and fills the waveform;
4. for each workload, K times, runs C, PyEpics and epicsca one after the other (interleaved, so
   drift on this shared machine hits all three alike), each in a fresh process with a timeout;
5. prints a table (the best of K by default: min for times and CPU, max for rates) with the
   ratios epicsca/C and epicsca/PyEpics, and writes bench/results.json with every raw run.

A failing workload (our library not importable yet, a timeout) is reported in its cell as "n/a"
and listed under the table; it never stops the run. The IOC is stopped at the end, also on error.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BUILD = HERE / "build"
PYEPICS_VENV = HERE / ".venv-pyepics"
PYEPICS_VERSION = "3.5.10"
C_PROGRAMS = ("ca_connect", "ca_waveform", "ca_monitor")
TOOLS = ("c", "pyepics", "epicsca")
TOOL_TITLES = {"c": "C", "pyepics": "PyEpics", "epicsca": "epicsca"}
WORKLOADS = ("import", "caget_many", "connect", "waveform", "monitor", "batch")
#: Workloads only epicsca has (an API PyEpics lacks).
EPICSCA_ONLY = {"batch"}
#: Which C program does each workload (``import`` has no C counterpart).
C_WORKLOAD = {"caget_many": "ca_connect", "connect": "ca_connect", "waveform": "ca_waveform",
              "monitor": "ca_monitor"}

sys.path.insert(0, str(HERE))
import ioc as bench_ioc  # noqa: E402  (bench/ioc.py, beside this file)


def note(msg: str) -> None:
    """Progress goes to stderr, the table to stdout."""
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# metrics: which field of which workload, for each tool, and which way is better

@dataclasses.dataclass
class Metric:
    key: str
    label: str
    unit: str
    scale: float               # display value = raw value * scale
    lower_is_better: bool
    c: Optional[tuple]         # (workload, field) in the C program's output, or None; or a
                               # list of such pairs whose values are pooled
    py: tuple                  # (workload, field) in workloads.py's output
    target: str = ""
    check: Optional[Callable[[float, Optional[float], Optional[float]], bool]] = None


def _ratio_at_most(limit: float, ref: str):
    def check(ours, c, pyepics):
        base = c if ref == "c" else pyepics
        return None if base is None else ours <= limit * base
    return check


METRICS = [
    Metric("import", "import epics", "ms", 1e3, True, None, ("import", "import_s"),
           "<= 0.5x PyEpics", _ratio_at_most(0.5, "pyepics")),
    Metric("context", "first CA context", "ms", 1e3, True,
           [("connect", "context_s"), ("caget_many", "context_s")], ("import", "context_s")),
    Metric("import_context", "import + first context", "ms", 1e3, True, None,
           ("import", "import_context_s"), "<= PyEpics", _ratio_at_most(1.0, "pyepics")),
    Metric("caget_many", "caget_many N (connect+read)", "ms", 1e3, True,
           ("caget_many", "connect_read_s"), ("caget_many", "caget_many_s"),
           "<= 0.5x PyEpics", _ratio_at_most(0.5, "pyepics")),
    Metric("connect", "connect N (ca.create/connect_channel)", "ms", 1e3, True,
           ("connect", "connect_s"), ("connect", "connect_s")),
    Metric("wf_pv_get", "8 MB waveform PV.get, per read", "ms", 1e3, True,
           ("waveform", "read_median_s"), ("waveform", "pv_get_median_s"),
           "<= 1.3x C", _ratio_at_most(1.3, "c")),
    Metric("wf_caget", "8 MB waveform caget, per read", "ms", 1e3, True,
           ("waveform", "read_median_s"), ("waveform", "caget_median_s"),
           "<= 1.3x C", _ratio_at_most(1.3, "c")),
    Metric("wf_mb_s", "8 MB waveform PV.get throughput", "MB/s", 1.0, False,
           ("waveform", "mb_per_s"), ("waveform", "mb_per_s")),
    Metric("mon_events", "monitor events delivered in window", "events", 1.0, False,
           ("monitor", "events"), ("monitor", "events")),
    Metric("mon_fraction", "monitor fraction delivered", "", 1.0, False,
           ("monitor", "delivered_fraction"), ("monitor", "delivered_fraction"),
           ">= 0.99", lambda ours, c, p: ours >= 0.99),
    Metric("mon_produced", "IOC updates in window (all tools ~N*10*T)", "updates", 1.0, False,
           ("monitor", "produced"), ("monitor", "produced")),
    Metric("mon_rate", "monitor events/s", "ev/s", 1.0, False,
           ("monitor", "events_per_s"), ("monitor", "events_per_s")),
    Metric("mon_cpu", "monitor CPU per event", "us", 1.0, True,
           ("monitor", "cpu_us_per_event"), ("monitor", "cpu_us_per_event"),
           "< 7 us", lambda ours, c, p: ours < 7.0),
    Metric("mem_per_pv", "RSS per monitored PV", "kB", 1.0, True,
           ("monitor", "rss_kb_per_pv"), ("monitor", "rss_kb_per_pv"),
           "<= PyEpics", _ratio_at_most(1.0, "pyepics")),
    Metric("mem_per_pv_end", "RSS per monitored PV, end of window", "kB", 1.0, True,
           ("monitor", "rss_kb_per_pv_end"), ("monitor", "rss_kb_per_pv_end"),
           "<= PyEpics", _ratio_at_most(1.0, "pyepics")),
    Metric("batch_events", "batch MonitorSet events in window", "events", 1.0, False,
           None, ("batch", "events")),
    Metric("batch_fraction", "batch fraction delivered", "", 1.0, False,
           None, ("batch", "delivered_fraction"), ">= 0.99", lambda ours, c, p: ours >= 0.99),
    Metric("batch_produced", "IOC updates in batch window (offered)", "updates", 1.0, False,
           None, ("batch", "produced")),
    Metric("batch_rate", "batch events/s", "ev/s", 1.0, False, None, ("batch", "events_per_s")),
    Metric("batch_cpu", "batch CPU per event", "us", 1.0, True,
           None, ("batch", "cpu_us_per_event"), "<= 0.5 us", lambda ours, c, p: ours <= 0.5),
    Metric("batch_dropped", "batch events dropped in window (ring full)", "events", 1.0, True,
           None, ("batch", "dropped")),
]


# ---------------------------------------------------------------------------------------------
# preparing the three tools

def epicscorelibs_paths() -> dict:
    """Include dir, lib dir, libca path and version of this interpreter's epicscorelibs."""
    import importlib.metadata
    import epicscorelibs.path
    return {"include": epicscorelibs.path.include_path, "lib": epicscorelibs.path.lib_path,
            "libca": epicscorelibs.path.get_lib("ca"),
            "version": importlib.metadata.version("epicscorelibs")}


def build_c(paths: dict) -> Dict[str, str]:
    """Compile the C programs into bench/build/; return {program: path}. Raises on failure."""
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise RuntimeError("no C compiler (gcc/cc) on PATH")
    BUILD.mkdir(exist_ok=True)
    inc = paths["include"]
    out = {}
    for prog in C_PROGRAMS:
        exe = BUILD / prog
        cmd = [cc, "-O2", "-Wall", "-Wextra", f"-I{inc}", f"-I{inc}/os/Linux",
               f"-I{inc}/compiler/gcc", str(HERE / "c" / f"{prog}.c"), "-o", str(exe),
               f"-L{paths['lib']}", "-lca", "-lCom", f"-Wl,-rpath,{paths['lib']}", "-lpthread"]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            raise RuntimeError(f"compiling {prog} failed:\n{res.stderr[-2000:]}")
        out[prog] = str(exe)
    return out


def _venv_python() -> Path:
    return PYEPICS_VENV / "bin" / "python"


def _pyepics_version(python: Path) -> Optional[str]:
    if not python.exists():
        return None
    res = subprocess.run([str(python), "-c", "import epics, epicscorelibs, numpy; "
                          "print(epics.__version__)"], capture_output=True, text=True,
                         timeout=120, cwd=tempfile.gettempdir(), env=_clean_env())
    return res.stdout.strip() if res.returncode == 0 else None


def ensure_pyepics_venv(corelibs_version: str) -> str:
    """Return the Python of bench/.venv-pyepics, creating it (once) with pyepics 3.5.10."""
    python = _venv_python()
    if _pyepics_version(python) == PYEPICS_VERSION:
        return str(python)
    note(f"creating {PYEPICS_VENV} with pyepics=={PYEPICS_VERSION} (once; cached)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(PYEPICS_VENV)], check=True,
                   timeout=300)
    res = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                          "-q", f"pyepics=={PYEPICS_VERSION}",
                          f"epicscorelibs=={corelibs_version}"],
                         capture_output=True, text=True, timeout=1200)
    if res.returncode != 0:
        raise RuntimeError(f"pip install pyepics failed:\n{res.stderr[-2000:]}")
    version = _pyepics_version(python)
    if version != PYEPICS_VERSION:
        raise RuntimeError(f"{PYEPICS_VENV} has pyepics {version!r}, not {PYEPICS_VERSION}")
    return str(python)


def compile_bytecode(pythons: Dict[str, str]) -> None:
    """Write the .pyc files of both libraries before the import workload, so that each import
    reads bytecode as an installed wheel does (pip compiles at install; a source checkout run
    with PYTHONDONTWRITEBYTECODE=1 would otherwise compile every module at every import)."""
    for tool, python in pythons.items():
        res = subprocess.run([python, "-c", "import compileall, os, epics; compileall.compile_dir("
                              "os.path.dirname(epics.__file__), quiet=1)"],
                             capture_output=True, text=True, timeout=300,
                             cwd=tempfile.gettempdir(), env=_clean_env())
        if res.returncode != 0:
            note(f"compiling the bytecode of {TOOL_TITLES[tool]} failed: {res.stderr[-500:]}")


def _clean_env() -> Dict[str, str]:
    """This environment without anything that would let one library's process import another."""
    env = dict(os.environ)
    for key in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"):
        env.pop(key, None)
    return env


# ---------------------------------------------------------------------------------------------
# running one workload once

@dataclasses.dataclass
class Config:
    n: int
    seconds: float
    settle: float
    reads: int
    timeout: float
    reps: int
    import_reps: int
    stat: str


def command(tool: str, workload: str, cfg: Config, prefix: str, programs: Dict[str, str],
            pythons: Dict[str, str]) -> Optional[List[str]]:
    """The argv of one run, or None where the tool has no such workload."""
    if workload in EPICSCA_ONLY and tool != "epicsca":
        return None
    if tool == "c":
        prog = C_WORKLOAD.get(workload)
        if prog is None:
            return None
        argv = [programs[prog], "--timeout", str(cfg.timeout)]
        if prog == "ca_waveform":
            return argv + ["--pv", prefix + "wf", "--reads", str(cfg.reads)]
        argv += ["--prefix", prefix, "--n", str(cfg.n)]
        if prog == "ca_monitor":
            argv += ["--seconds", str(cfg.seconds), "--settle", str(cfg.settle)]
        return argv
    return [pythons[tool], str(HERE / "workloads.py"), workload, "--tool", tool,
            "--prefix", prefix, "--n", str(cfg.n), "--seconds", str(cfg.seconds),
            "--settle", str(cfg.settle), "--reads", str(cfg.reads), "--timeout", str(cfg.timeout)]


def tool_env(tool: str, ioc_env: Dict[str, str], libca: str) -> Dict[str, str]:
    env = _clean_env()
    env.update(ioc_env)
    env["PYEPICS_LIBCA"] = libca  # PyEpics and epicsca load the same libca the C programs link
    if tool == "epicsca":
        env["PYTHONPATH"] = str(REPO)
    return env


def parse_output(stdout: str) -> Optional[dict]:
    """The last line of ``stdout`` that is a JSON object, or None."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def check_identity(tool: str, result: dict) -> Optional[str]:
    """An error if the run imported the wrong ``epics`` (e.g. PyEpics found our repo)."""
    path = result.get("epics_file")
    if tool == "c" or path is None:
        return None
    path = os.path.realpath(path)
    if tool == "pyepics" and not path.startswith(str(PYEPICS_VENV.resolve())):
        return f"PyEpics run imported {path}"
    if tool == "epicsca" and not path.startswith(str((REPO / "epics").resolve())):
        return f"epicsca run imported {path}"
    return None


def run_once(argv: List[str], env: Dict[str, str], timeout: float, cwd: str) -> dict:
    """Run one workload process; always return a dict (with "error" on any failure)."""
    t0 = time.monotonic()
    try:
        res = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                             timeout=timeout)
        stdout, stderr, code = res.stdout, res.stderr, res.returncode
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout
        result = parse_output(out or "") or {}
        result["error"] = f"timed out after {timeout:.0f} s"
        return result
    except OSError as exc:
        return {"error": f"could not run {argv[0]}: {exc}"}
    result = parse_output(stdout)
    if result is None:
        tail = (stderr or "").strip().splitlines()[-3:]
        return {"error": f"exit {code}, no JSON output: {' | '.join(tail)}"}
    if code != 0 and "error" not in result:
        result["warning"] = f"exit status {code}"
    result["process_s"] = round(time.monotonic() - t0, 3)
    return result


def summary(result: dict) -> str:
    if "error" in result:
        return "ERROR " + result["error"].splitlines()[0][:150]
    keys = [k for k in ("import_s", "context_s", "caget_many_s", "connect_read_s", "connect_s",
                        "connected", "values", "read_median_s", "pv_get_median_s",
                        "caget_median_s", "data_ok", "events", "delivered_fraction",
                        "cpu_us_per_event", "rss_kb_per_pv", "rss_kb_per_pv_end", "warning") if k in result]
    return " ".join(f"{k}={_short(result[k])}" for k in keys)


def _short(v):
    return f"{v:.4g}" if isinstance(v, float) else v


# ---------------------------------------------------------------------------------------------
# aggregation and the table

#: Workloads whose metrics all come from one representative run (chosen by this field, higher
#: is better), so that e.g. the fraction delivered and the CPU per event shown side by side were
#: measured together. Other workloads take each metric's best (or median) on its own.
REPRESENTATIVE = {"monitor": "events", "batch": "events"}


def _representative(results: List[dict], field: str, stat: str) -> Optional[dict]:
    ok = [r for r in results if "error" not in r and isinstance(r.get(field), (int, float))]
    if not ok:
        return None
    ok.sort(key=lambda r: r[field])
    return ok[-1] if stat == "best" else ok[(len(ok) - 1) // 2]


def aggregate(metric: Metric, tool: str, runs: Dict[str, Dict[str, List[dict]]],
              stat: str) -> Optional[float]:
    """The best (or median) of the tool's values for this metric, None if none."""
    source = metric.c if tool == "c" else metric.py
    if source is None:
        return None
    values = []
    for workload, field in (source if isinstance(source, list) else [source]):
        results = runs.get(workload, {}).get(tool, [])
        if workload in REPRESENTATIVE:
            run = _representative(results, REPRESENTATIVE[workload], stat)
            value = None if run is None else run.get(field)
            return value if isinstance(value, (int, float)) else None
        values += [r[field] for r in results
                   if "error" not in r and isinstance(r.get(field), (int, float))]
    if not values:
        return None
    if stat == "median":
        return statistics.median(values)
    return min(values) if metric.lower_is_better else max(values)


def _fmt(value: Optional[float]) -> str:
    if value is None:
        return "n/a"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:#.3g}"


def build_table(runs, stat: str, workloads: List[str]) -> tuple:
    """(rows for results.json, the printed table) for the metrics of the workloads run."""
    rows, table = [], []
    for m in METRICS:
        sources = (m.c if isinstance(m.c, list) else [m.c]) + [m.py]
        if not any(src and src[0] in workloads for src in sources):
            continue
        vals = {t: aggregate(m, t, runs, stat) for t in TOOLS}
        shown = {t: (None if v is None else v * m.scale) for t, v in vals.items()}
        ours = vals["epicsca"]
        r_c = ours / vals["c"] if ours is not None and vals["c"] else None
        r_p = ours / vals["pyepics"] if ours is not None and vals["pyepics"] else None
        verdict = ""
        if m.check is not None and ours is not None:
            ok = m.check(ours, vals["c"], vals["pyepics"])
            verdict = "" if ok is None else ("ok" if ok else "MISS")
        rows.append({"metric": m.key, "label": m.label, "unit": m.unit,
                     "lower_is_better": m.lower_is_better,
                     **{t: shown[t] for t in TOOLS},
                     "epicsca_over_c": r_c, "epicsca_over_pyepics": r_p,
                     "target": m.target, "verdict": verdict})
        table.append([m.label, m.unit, _fmt(shown["c"]), _fmt(shown["pyepics"]),
                      _fmt(shown["epicsca"]), _fmt(r_c), _fmt(r_p),
                      (m.target + " " + verdict).strip()])
    header = ["metric", "unit", "C", "PyEpics", "epicsca", "ours/C", "ours/PyEpics", "target"]
    widths = [max(len(str(row[i])) for row in table + [header]) for i in range(len(header))]
    lines = []
    for j, row in enumerate([header] + table):
        cells = [str(c).ljust(widths[i]) if i < 2 else str(c).rjust(widths[i])
                 for i, c in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return rows, "\n".join(lines)


def problems(runs) -> List[str]:
    """One line per failed or suspicious run, for under the table."""
    out, seen = [], set()
    for workload, by_tool in runs.items():
        for tool, results in by_tool.items():
            for r in results:
                msg = None
                if "error" in r:
                    msg = r["error"].splitlines()[0][:200]
                elif r.get("data_ok") is False:
                    msg = "waveform data incomplete or wrong"
                elif "connected" in r and "n" in r and r["connected"] < r["n"]:
                    msg = f"only {r['connected']} of {r['n']} connected"
                elif "values" in r and r["values"] < r.get("n", 0):
                    msg = f"only {r['values']} of {r['n']} values"
                elif "first_events" in r and r["first_events"] < r.get("n", 0):
                    msg = (f"only {r['first_events']} of {r['n']} PVs had their first event "
                           f"before the timeout (RSS measured then)")
                if msg and (workload, tool, msg) not in seen:
                    seen.add((workload, tool, msg))
                    out.append(f"{TOOL_TITLES[tool]:8} {workload:11} {msg}")
    return out


# ---------------------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="epicsca vs PyEpics vs C benchmark (see bench/README.md)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: N=1000, 2 s monitor window, 5 reads, 1 repetition")
    p.add_argument("--only", action="append", default=[],
                   help=f"workloads to run (repeatable or comma separated): {', '.join(WORKLOADS)}")
    p.add_argument("--tools", default=",".join(TOOLS),
                   help="comma separated subset of c,pyepics,epicsca")
    p.add_argument("--n", type=int, help="counter records (default 10000, quick 1000)")
    p.add_argument("--seconds", type=float, help="monitor window (default 10, quick 2)")
    p.add_argument("--reads", type=int, help="waveform reads per run (default 20, quick 5)")
    p.add_argument("--reps", type=int, help="repetitions per workload (default 3, quick 1)")
    p.add_argument("--stat", choices=("best", "median"), default="best",
                   help="how to combine repetitions (default best: min time, max rate)")
    p.add_argument("--timeout", type=float, help="bound on each wait inside a run (default 60 s)")
    p.add_argument("--output", default=str(HERE / "results.json"))
    p.add_argument("--report", metavar="RESULTS_JSON",
                   help="only print the table of an earlier run's results.json (with --stat)")
    p.add_argument("--iocs", type=int, default=1,
                   help="softioc processes sharing the counters (more IOCs offer more events/s)")
    p.add_argument("--busy", type=int, default=0, metavar="M",
                   help="M more records updating at 10 Hz that no client reads: a busy IOC "
                        "(the issue's case: --busy 20000)")
    p.add_argument("--no-kit", action="store_true",
                   help="start the IOC with bench/_ioc_server.py even if epics.testing.ioc exists")
    args = p.parse_args(argv)
    only = [w for item in args.only for w in item.split(",") if w]
    bad = [w for w in only if w not in WORKLOADS]
    if bad:
        p.error(f"unknown workload(s) {bad}; choose from {list(WORKLOADS)}")
    args.only = only or list(WORKLOADS)
    args.tools = [t for t in args.tools.split(",") if t]
    if any(t not in TOOLS for t in args.tools):
        p.error(f"--tools must be a subset of {TOOLS}")
    for name, low, high in (("n", 1, 100_000), ("seconds", 0.1, 600), ("reads", 1, 1000),
                            ("reps", 1, 20), ("timeout", 1, 600)):
        value = getattr(args, name)
        if value is not None and not low <= value <= high:
            p.error(f"--{name} must be between {low} and {high}")
    return args


def make_config(args) -> Config:
    q = args.quick
    reps = args.reps or (1 if q else 3)
    return Config(n=args.n or (1000 if q else 10_000),
                  seconds=args.seconds or (2.0 if q else 10.0),
                  settle=0.5 if q else 1.0,
                  reads=args.reads or (5 if q else 20),
                  timeout=args.timeout or (30.0 if q else 60.0),
                  reps=reps, import_reps=max(reps, 2 if q else 5), stat=args.stat)


def report(path: str, stat: str) -> int:
    """Print the table of an earlier run from its results.json, combining reps with ``stat``."""
    with open(path) as f:
        data = json.load(f)
    _, text = build_table(data["runs"], stat, data["meta"].get("workloads", list(WORKLOADS)))
    meta = data["meta"]
    print(f"{path}: run of {meta.get('date')}, config {meta.get('config')}, stat {stat}\n")
    print(text)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.report:
        return report(args.report, args.stat)
    cfg = make_config(args)
    paths = epicscorelibs_paths()
    meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": platform.platform(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "libca": paths["libca"],
            "epicscorelibs": paths["version"], "config": dataclasses.asdict(cfg),
            "workloads": args.only, "tools": args.tools,
            "stat": "best of reps (min for times/CPU/memory, max for rates)"
                    if cfg.stat == "best" else "median of reps"}
    unavailable: Dict[str, str] = {}

    programs: Dict[str, str] = {}
    if "c" in args.tools or "waveform" in args.only:  # ca_waveform also fills the waveform
        try:
            programs = build_c(paths)
        except Exception as exc:
            unavailable["c"] = f"C build: {exc}"
    pythons = {"epicsca": sys.executable}
    if "pyepics" in args.tools:
        try:
            pythons["pyepics"] = ensure_pyepics_venv(paths["version"])
        except Exception as exc:
            unavailable["pyepics"] = f"PyEpics venv: {exc}"
    for tool, why in unavailable.items():
        note(f"{TOOL_TITLES[tool]} unavailable: {why}")

    runs: Dict[str, Dict[str, List[dict]]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="epicsca-bench-"))
    prefix = f"bn{secrets.token_hex(3)}:"
    shares = [cfg.n * k // args.iocs for k in range(args.iocs + 1)]
    busy = [args.busy * k // args.iocs for k in range(args.iocs + 1)]
    servers = [bench_ioc.make_ioc(bench_ioc.write_db(workdir / f"bench{k}.db", prefix,
                                                     shares[k + 1] - shares[k], first=shares[k],
                                                     extras=k == 0,
                                                     busy=range(busy[k], busy[k + 1])),
                                  prefer_kit=not args.no_kit) for k in range(args.iocs)]
    meta["ioc"] = servers[0].starter
    meta["iocs"] = args.iocs
    meta["busy_records"] = args.busy
    try:
        t_start = time.monotonic()
        for server in servers:
            server.start()
        ioc_env = bench_ioc.client_env_of(servers)
        meta["ioc_port"] = servers[0].port
        note(f"{args.iocs} IOC(s) ({servers[0].starter}) on 127.0.0.1:"
             f"{','.join(str(server.port) for server in servers)}, {cfg.n} counters at "
             f"{bench_ioc.RATE_PER_RECORD:g} Hz"
             f"{f' (and {args.busy} busy records)' if args.busy else ''}, prefix {prefix}")
        if "waveform" in args.only:
            if programs:
                fill = run_once([programs["ca_waveform"], "--pv", prefix + "wf", "--fill"],
                                tool_env("c", ioc_env, paths["libca"]), 120, str(workdir))
                if "error" in fill:
                    note(f"filling the waveform failed: {fill['error']}")
            else:
                note("no C build: the waveform stays empty and its reads are reported short")
        if "import" in args.only:
            compile_bytecode(pythons)
        for workload in args.only:
            reps = cfg.import_reps if workload == "import" else cfg.reps
            for rep in range(reps):
                for tool in args.tools:
                    if tool in unavailable:
                        if rep == 0:
                            runs.setdefault(workload, {}).setdefault(tool, []).append(
                                {"error": unavailable[tool]})
                        continue
                    argv = command(tool, workload, cfg, prefix, programs, pythons)
                    if argv is None:
                        continue
                    limit = 2 * cfg.timeout + cfg.seconds + cfg.settle + 60
                    result = run_once(argv, tool_env(tool, ioc_env, paths["libca"]), limit,
                                      str(workdir))
                    wrong = check_identity(tool, result)
                    if wrong:
                        result["error"] = wrong
                    runs.setdefault(workload, {}).setdefault(tool, []).append(result)
                    note(f"[{workload} {rep + 1}/{reps}] {TOOL_TITLES[tool]:8} {summary(result)}")
        meta["elapsed_s"] = round(time.monotonic() - t_start, 1)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    rows, text = build_table(runs, cfg.stat, args.only)
    print(f"\nepicsca benchmark  N={cfg.n}  monitor window={cfg.seconds:g} s  waveform reads="
          f"{cfg.reads}  reps={cfg.reps} (import {cfg.import_reps})  stat: {meta['stat']}")
    busy_text = f", {meta['busy_records']} busy records" if meta.get("busy_records") else ""
    print(f"libca {paths['libca']} (epicscorelibs {paths['version']}), IOC via {meta['ioc']}"
          f"{busy_text}\n")
    print(text)
    issues = problems(runs)
    if issues:
        print("\nproblems:")
        for line in issues:
            print("  " + line)
    with open(args.output, "w") as f:
        json.dump({"meta": meta, "metrics": rows, "runs": runs}, f, indent=1)
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
