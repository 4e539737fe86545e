"""``python -m epics.stepscan``: the scan server and its clients on the command line.

::

    python -m epics.stepscan server --db URL      run queued scans (Ctrl-C pauses a scan,
                                                  twice aborts; SIGTERM aborts and stops)
    python -m epics.stepscan submit scan.json     queue a request (see epics.stepscan.request)
    python -m epics.stepscan status [ID]          the scans and how far they got
    python -m epics.stepscan watch ID             print each point as it is taken
    python -m epics.stepscan abort ID             abort a queued or running scan

The database URL is ``--db``, else ``$EPICS_STEPSCAN_DB``, else ``stepscan.sqlite`` here:
``sqlite:///path``, a file path, or ``postgresql://user@host/db``.

Threads: the main thread does everything (the server: see `epics.stepscan.server`).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Optional, Sequence

from .errors import ScanError
from .request import load_request
from .storage import FINAL_STATES, ScanRecord, open_store

__all__ = ['main']

PROG = 'python -m epics.stepscan'
DEFAULT_DB = 'stepscan.sqlite'
ENV_DB = 'EPICS_STEPSCAN_DB'
#: Seconds between looks at the database while watching.
WATCH_INTERVAL = 0.2
EXIT_STATES = {'done': 0, 'failed': 1, 'aborted': 2}


def _status_line(scan: ScanRecord) -> str:
    points = f'{scan.points_taken}/{scan.npts if scan.npts is not None else "?"}'
    where = f'{scan.filename}#{scan.scan_number}' if scan.filename else ''
    return (f'{scan.id:>5} {scan.state:<8} {points:>9}  {scan.request["command"]:<7} '
            f'{scan.name or "-":<20.20} {scan.server or "-":<20.20} {where} {scan.message}')


def cmd_server(args) -> int:
    from .server import ScanServer
    server = ScanServer(args.db, name=args.name, stale_after=args.stale_after)
    try:
        ran = server.serve(max_scans=args.max_scans, idle_exit=args.idle_exit)
    finally:
        server.close()
    print(f'scan server {server.name}: {ran} scan(s) run')
    return 0


def cmd_submit(args) -> int:
    request = load_request(args.request)
    with open_store(args.db) as store:
        scan_id = store.submit(request, name=args.name or request.get('name', ''))
    print(f'scan {scan_id} queued')
    return 0


def cmd_status(args) -> int:
    with open_store(args.db) as store:
        scans = [store.get(args.id)] if args.id is not None else store.list_scans(args.limit)
    print(f'{"id":>5} {"state":<8} {"points":>9}  {"command":<7} {"name":<20} '
          f'{"server":<20} file#scan message')
    for scan in scans:
        print(_status_line(scan))
    return 0


def cmd_watch(args) -> int:
    deadline = time.monotonic() + args.timeout
    last = -1
    labels_shown = False
    with open_store(args.db) as store:
        for _ in range(int(args.timeout / WATCH_INTERVAL) + 2):
            scan = store.get(args.id)
            for index, row in store.points(args.id, after=last):
                if not labels_shown:
                    print('#' + '  '.join(['point'] + list(row)))
                    labels_shown = True
                print(' '.join([str(index)] + [f'{v:.6g}' if isinstance(v, float) else str(v)
                                               for v in row.values()]), flush=True)
                last = index
            if scan.state in FINAL_STATES:
                print(f'scan {scan.id} {scan.state}: {scan.points_taken} point(s)'
                      f'{"; " + scan.message if scan.message else ""}')
                return EXIT_STATES[scan.state]
            if time.monotonic() > deadline:
                break
            time.sleep(WATCH_INTERVAL)
    print(f'scan {args.id} still {scan.state} after {args.timeout:g} s', file=sys.stderr)
    return 3


def cmd_abort(args) -> int:
    with open_store(args.db) as store:
        if store.request_abort(args.id):
            print(f'scan {args.id}: abort requested')
            return 0
        print(f'scan {args.id} has already ended ({store.get(args.id).state})')
        return 1


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--db', default=os.environ.get(ENV_DB, DEFAULT_DB),
                        help=f'scan database URL (default: ${ENV_DB} or {DEFAULT_DB})')
    common.add_argument('-v', '--verbose', action='store_true', help='log more')
    top = argparse.ArgumentParser(prog=PROG, description='Step scan server and clients.')
    commands = top.add_subparsers(dest='command', required=True)
    server = commands.add_parser('server', parents=[common], help='run queued scans')
    server.add_argument('--name', help='server name (default host:pid)')
    server.add_argument('--max-scans', type=int, help='stop after this many scans')
    server.add_argument('--idle-exit', type=float, help='stop when idle this many seconds')
    server.add_argument('--stale-after', type=float, default=30.0,
                        help='seconds without heartbeat before a running scan counts as '
                             'failed (its server died)')
    server.set_defaults(run=cmd_server)
    submit = commands.add_parser('submit', parents=[common], help='queue a JSON request')
    submit.add_argument('request', help='the request file (JSON)')
    submit.add_argument('--name', help='name shown by status')
    submit.set_defaults(run=cmd_submit)
    status = commands.add_parser('status', parents=[common], help='show scans')
    status.add_argument('id', nargs='?', type=int)
    status.add_argument('--limit', type=int, default=20)
    status.set_defaults(run=cmd_status)
    watch = commands.add_parser('watch', parents=[common], help='print points as they come')
    watch.add_argument('id', type=int)
    watch.add_argument('--timeout', type=float, default=3600.0,
                       help='give up after this many seconds')
    watch.set_defaults(run=cmd_watch)
    abort = commands.add_parser('abort', parents=[common], help='abort a scan')
    abort.add_argument('id', type=int)
    abort.set_defaults(run=cmd_abort)
    return top


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format='%(asctime)s %(name)s %(levelname)s: %(message)s')
    try:
        return args.run(args)
    except ScanError as exc:
        print(f'{PROG} {args.command}: {exc}', file=sys.stderr)
        return 1
