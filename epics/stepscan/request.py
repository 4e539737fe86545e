"""Scan requests as JSON: what a client submits to the scan server, checked before it is
queued, and turned into a running :class:`~epics.stepscan.SpecScan` by the server.

A request::

    {"name": "Fe edge line-up",
     "config": {"motors": {"x": "13IDE:m9"},
                "detectors": [{"prefix": "13IDE:scaler1", "kind": "scaler"}],
                "counters": {"A_Counter": "13IDE:ao1"},
                "extra_pvs": {"Ring Current": "S:SRcurrentAI.VAL"}},
     "command": "ascan", "args": ["x", 10, 11.0, 41, 0.25],
     "filename": "/data/scans.spec"}

Threads: runs on the caller's thread.
"""
from __future__ import annotations

import json
from typing import Any, Dict

from .config import apply_config
from .errors import ScanError
from .specscan import SpecScan

__all__ = ['COMMANDS', 'check_request', 'load_request', 'build_scan', 'run_request']

#: The SpecScan commands a request may name, with their number of arguments.
COMMANDS = {'ascan': 5, 'dscan': 5, 'lup': 5, 'a2scan': 8, 'd2scan': 8, 'a3scan': 11,
            'd3scan': 11, 'mesh': 9}


def check_request(request: Any) -> Dict[str, Any]:
    """Raise :class:`ScanError` saying what is wrong with a request; return it."""
    if not isinstance(request, dict):
        raise ScanError('a scan request is a JSON object')
    command = request.get('command')
    if command not in COMMANDS:
        raise ScanError(f'scan request: unknown command {command!r}; use one of '
                        f'{sorted(COMMANDS)}')
    args = request.get('args')
    if not isinstance(args, list) or len(args) != COMMANDS[command]:
        raise ScanError(f'scan request: {command} takes {COMMANDS[command]} arguments '
                        f'(SPEC order), not {args!r}')
    config = request.get('config')
    if not isinstance(config, dict) or not config.get('motors'):
        raise ScanError('scan request: "config" must name the motors ({"motors": {...}})')
    motors = [a for a in args if isinstance(a, str)]
    unknown = [m for m in motors if m not in config['motors']]
    if unknown:
        raise ScanError(f'scan request: motors {unknown} are not in the configuration '
                        f'{sorted(config["motors"])}')
    if not request.get('filename') and not config.get('scan', {}).get('filename'):
        raise ScanError('scan request: no "filename" for the SPEC file')
    return request


def load_request(path: str) -> Dict[str, Any]:
    """Read and check a request file."""
    try:
        with open(path, encoding='utf-8') as source:
            request = json.load(source)
    except OSError as exc:
        raise ScanError(f'cannot read scan request {path}: {exc}') from None
    except json.JSONDecodeError as exc:
        raise ScanError(f'{path} is not valid JSON: {exc}') from None
    return check_request(request)


def build_scan(request: Dict[str, Any]) -> SpecScan:
    """A SpecScan configured as the request says (run it with ``run_request``)."""
    check_request(request)
    scan = SpecScan()
    apply_config(scan, request['config'])
    if request.get('filename'):
        scan.filename = request['filename']
    scan.progress = False
    scan.interactive = False
    return scan


def run_request(scan: SpecScan, request: Dict[str, Any]):
    """Run the request's command on ``scan``; returns the ScanResult."""
    return getattr(scan, request['command'])(*request['args'])
