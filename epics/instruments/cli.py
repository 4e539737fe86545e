"""``python -m epics.instruments FILE COMMAND ...``: instruments from the command line.

Commands::

    list                          the instruments, with their PVs and positions counts
    show INST                     an instrument's PVs and positions
    create INST PV [PV ...]       a new instrument (motor records are recognised by RTYP;
                                  --kind motor|pv to say so instead)
    save INST POS [--replace]     save the current values as position POS
    diff INST POS                 the saved values against the current ones
    goto INST POS [--yes] [--only PV ...] [--timeout S] [--no-wait]
                                  show the comparison, ask, then restore
    delete INST [POS]             delete a position, or an instrument with its positions
    export [JSON]                 everything as JSON (to stdout without JSON)
    import JSON [--replace]       add the instruments of an exported file
    serve PREFIX                  server mode on the PVs PREFIXinstrument, ... (Ctrl-C ends)

Exit status: 0 when all went well, 1 when a restore left PVs behind or the answer was no, 2 for
a bad file, name or argument. Only this module prints; the library logs.

Threads: the main thread (``serve`` waits in it; SIGINT and SIGTERM set its stop event).
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, TextIO

from epics import caget

from .errors import InstrumentError
from .model import MOTOR, PLAIN_PV, PvEntry, motor_record
from .recent import remember_file
from .server import InstrumentServer
from .store import InstrumentFile
from .values import Comparison, value_text

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _kind_of(pvname: str, timeout: float = 5.0) -> str:
    """'motor' if ``pvname`` is (the VAL field of) a motor record, else 'pv'."""
    record = motor_record(pvname)
    if "." in record:
        return PLAIN_PV
    return MOTOR if caget(f"{record}.RTYP", timeout=timeout) == "motor" else PLAIN_PV


def comparison_table(rows: Sequence[Comparison]) -> str:
    """The compare-and-choose table of the talk, as text."""
    width = max([len(row.pvname) for row in rows] + [2])
    lines = [f"{'PV':<{width}}  {'kind':<5}  {'current':>22}  {'saved':>22}  "]
    for row in rows:
        mark = "same" if row.matches else "MOVE"
        lines.append(f"{row.pvname:<{width}}  {row.kind:<5}  {value_text(row.current, 22):>22}"
                     f"  {value_text(row.saved, 22):>22}  {mark}")
    return "\n".join(lines)


def _list(f: InstrumentFile, args: argparse.Namespace, out: TextIO) -> int:
    for name in f.instruments():
        print(f"{name}: {len(f.instrument(name).pvs)} PVs, {len(f.positions(name))} positions",
              file=out)
    return EXIT_OK


def _show(f: InstrumentFile, args: argparse.Namespace, out: TextIO) -> int:
    instrument = f.instrument(args.instrument)
    print(f"instrument {instrument.name!r}", file=out)
    for entry in instrument.pvs:
        extra = f" (tolerance {entry.tolerance:g})" if entry.tolerance is not None else ""
        print(f"  {entry.kind:<5}  {entry.pvname}{extra}", file=out)
    print("positions:", file=out)
    for name in f.positions(instrument.name):
        saved = time.strftime("%Y-%m-%d %H:%M:%S",
                              time.localtime(f.position(instrument.name, name).saved))
        print(f"  {name}  (saved {saved})", file=out)
    return EXIT_OK


def _create(f: InstrumentFile, args: argparse.Namespace, out: TextIO) -> int:
    entries = [PvEntry(name, args.kind or _kind_of(name)) for name in args.pvs]
    f.add_instrument(args.instrument, entries)
    print(f"created {args.instrument!r}: " + ", ".join(f"{e.pvname} ({e.kind})" for e in entries),
          file=out)
    return EXIT_OK


def _save(f: InstrumentFile, args: argparse.Namespace, out: TextIO) -> int:
    position = f.save_position(args.instrument, args.position, replace=args.replace)
    print(f"saved {len(position.values)} PVs of {args.instrument!r} as {args.position!r}",
          file=out)
    return EXIT_OK


def _diff(f: InstrumentFile, args: argparse.Namespace, out: TextIO) -> int:
    print(comparison_table(f.compare(args.instrument, args.position, args.tolerance)), file=out)
    return EXIT_OK


def _goto(f: InstrumentFile, args: argparse.Namespace, out: TextIO,
          ask: Callable[[str], str] = input) -> int:
    rows = f.compare(args.instrument, args.position)
    if args.only:
        instrument = f.instrument(args.instrument)
        for name in args.only:
            instrument.entry(name)   # KeyError naming the instrument's PVs
        rows = [row for row in rows if row.pvname in args.only]
    print(comparison_table(rows), file=out)
    if not args.yes:
        try:
            answer = ask(f"restore {len(rows)} PVs of {args.instrument!r} to "
                         f"{args.position!r}? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing moved", file=out)
            return EXIT_FAILED
    report = f.restore_position(args.instrument, args.position, only=args.only or None,
                                wait=not args.no_wait, timeout=args.timeout,
                                progress=lambda text: print(text, file=out, flush=True))
    print(report, file=out)
    return EXIT_OK if report.ok else EXIT_FAILED


def _delete(f: InstrumentFile, args: argparse.Namespace, out: TextIO) -> int:
    if args.position is None:
        f.delete_instrument(args.instrument)
        print(f"deleted instrument {args.instrument!r}", file=out)
    else:
        f.delete_position(args.instrument, args.position)
        print(f"deleted position {args.position!r} of {args.instrument!r}", file=out)
    return EXIT_OK


def _export(f: InstrumentFile, args: argparse.Namespace, out: TextIO) -> int:
    text = json.dumps(f.export_json(), indent=1)
    if args.json is None:
        print(text, file=out)
    else:
        with open(args.json, "w") as target:
            target.write(text + "\n")
    return EXIT_OK


def _import(f: InstrumentFile, args: argparse.Namespace, out: TextIO) -> int:
    with open(args.json) as source:
        names = f.import_json(json.load(source), replace=args.replace)
    print(f"imported {', '.join(names) or 'nothing'}", file=out)
    return EXIT_OK


def _serve(f: InstrumentFile, args: argparse.Namespace, out: TextIO) -> int:
    stop = threading.Event()
    for name in ("SIGINT", "SIGTERM"):
        signal.signal(getattr(signal, name), lambda *_: stop.set())
    server = InstrumentServer(f, args.prefix, restore_timeout=args.timeout)
    server.run(stop, on_ready=lambda: print(f"serving {f.path} on {args.prefix}*", file=out,
                                            flush=True))
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m epics.instruments",
                                     description="Named positions of sets of PVs.")
    parser.add_argument("file", help="the instruments file (SQLite; created if missing)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the instruments")
    sub = commands.add_parser("show", help="an instrument's PVs and positions")
    sub.add_argument("instrument")
    sub = commands.add_parser("create", help="create an instrument")
    sub.add_argument("instrument")
    sub.add_argument("pvs", nargs="+", metavar="PV")
    sub.add_argument("--kind", choices=(MOTOR, PLAIN_PV), help="the kind of every PV")
    for name in ("save", "diff", "goto"):
        sub = commands.add_parser(name)
        sub.add_argument("instrument")
        sub.add_argument("position")
        if name == "save":
            sub.add_argument("--replace", action="store_true",
                             help="replace a position of that name")
        if name == "diff":
            sub.add_argument("--tolerance", type=float, default=None)
        if name == "goto":
            sub.add_argument("--yes", action="store_true", help="do not ask")
            sub.add_argument("--only", nargs="+", metavar="PV", help="restore these PVs only")
            sub.add_argument("--timeout", type=float, default=300.0)
            sub.add_argument("--no-wait", action="store_true")
    sub = commands.add_parser("delete")
    sub.add_argument("instrument")
    sub.add_argument("position", nargs="?")
    sub = commands.add_parser("export")
    sub.add_argument("json", nargs="?")
    sub = commands.add_parser("import")
    sub.add_argument("json")
    sub.add_argument("--replace", action="store_true")
    sub = commands.add_parser("serve", help="server mode")
    sub.add_argument("prefix")
    sub.add_argument("--timeout", type=float, default=300.0, help="most seconds per go-to")
    return parser


_COMMANDS: Dict[str, Callable[..., int]] = {
    "list": _list, "show": _show, "create": _create, "save": _save, "diff": _diff,
    "goto": _goto, "delete": _delete, "export": _export, "import": _import, "serve": _serve}


def main(argv: Optional[List[str]] = None, out: TextIO = sys.stdout) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        with InstrumentFile(args.file) as f:
            remember_file(f.path)
            return _COMMANDS[args.command](f, args, out)
    except (InstrumentError, KeyError, ValueError, OSError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) and exc.args else exc}",
              file=sys.stderr)
        return EXIT_USAGE
