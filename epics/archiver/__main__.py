"""``python -m epics.archiver``: run the engine, serve the web pages, hash a password.

* ``run --config FILE [--share I/N]``: archive until SIGINT or SIGTERM, then write what is
  waiting and stop;
* ``web --config FILE [--host H] [--port P]``: the web front end (needs the ``archiver``
  extra: starlette, uvicorn, jinja2);
* ``hash-password``: read a password and print its hash for ``[web.users]``.

Runs on the main thread; the engine's and the web server's threads are started from here.
"""
from __future__ import annotations

import argparse
import getpass
import logging
import signal
import sys
import threading
from typing import List, Optional

from .alerts import AlertMonitor, Notifier
from .config import ConfigError, load_config, parse_share
from .engine import Engine
from .passwords import hash_password
from .storage import open_storage

STATUS_EVERY = 60.0


def _run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    settings = config.engine
    if args.share:
        from dataclasses import replace
        settings = replace(settings, share=parse_share(args.share))
    notifier = Notifier(config.smtp)
    monitor = AlertMonitor(notifier)
    engine = Engine(config.pvs, open_storage(config.storage_url), settings,
                    observer=monitor.observe, housekeeping=monitor.reload)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    engine.start()
    print(f"archiving {engine.status().pvs} PVs into {config.storage_url}", flush=True)
    try:
        while not stop.wait(STATUS_EVERY if args.status_every is None else args.status_every):
            status = engine.status()
            logging.getLogger("epics.archiver").info(
                "%d/%d connected, %d stored, %d waiting, %d dropped%s", status.connected,
                status.pvs, status.stored, status.buffered, status.dropped,
                "" if status.database_ok else f", database error: {status.last_error}")
    finally:
        engine.stop(disconnect=False)   # the process ends here: libca clears the channels
        notifier.close()
    status = engine.status()
    print(f"stopped: {status.stored} samples stored, {status.buffered} not written, "
          f"{status.dropped} dropped", flush=True)
    return 0 if status.buffered == 0 else 1


def _web(args: argparse.Namespace) -> int:
    from .web.server import serve
    config = load_config(args.config)
    return serve(config, host=args.host, port=args.port)


def _hash(args: argparse.Namespace) -> int:
    password = sys.stdin.readline().rstrip("\n") if args.stdin else getpass.getpass()
    print(hash_password(password))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m epics.archiver",
                                     description="EPICS archiver: engine, web pages, tools")
    parser.add_argument("--log-level", default="INFO")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="archive the configured PVs")
    run.add_argument("--config", required=True)
    run.add_argument("--share", help="INDEX/COUNT: archive only this engine's share of the PVs")
    run.add_argument("--status-every", type=float, help="seconds between status log lines")
    run.set_defaults(handler=_run)
    web = commands.add_parser("web", help="serve status pages, plots, alerts and retrieval")
    web.add_argument("--config", required=True)
    web.add_argument("--host", help="address to bind (default from the config: 127.0.0.1)")
    web.add_argument("--port", type=int)
    web.set_defaults(handler=_web)
    hashing = commands.add_parser("hash-password", help="print a password hash for [web.users]")
    hashing.add_argument("--stdin", action="store_true", help="read the password from stdin")
    hashing.set_defaults(handler=_hash)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return args.handler(args)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
