"""Saving and loading a SpecScan's configuration (motors, detectors, counters, extra PVs) as
INI, as in the talk, or as TOML (``*.toml``).

INI layout (labels keep their case)::

    [scan]
    filename = scans.dat
    [motors]
    x = 13IDE:m9
    [counters]
    A_Counter = 13IDE:ao1
    [extra_pvs]
    Ring Current = S:SRcurrentAI.VAL
    [detector 1]
    prefix = 13IDE:scaler1
    kind = scaler
    nchan = 8

TOML has the same tables (``[scan]``, ``[motors]``, ``[counters]``, ``[extra_pvs]``) and an
array of tables ``[[detectors]]``.

Threads: runs on the caller's thread.
"""
from __future__ import annotations

import ast
import configparser
import os
from typing import TYPE_CHECKING, Any, Dict, List

from .errors import ScanError

if TYPE_CHECKING:      # pragma: no cover
    from .specscan import SpecScan

__all__ = ['save_config', 'load_config', 'config_dict']


def config_dict(scan: 'SpecScan') -> Dict[str, Any]:
    """The configuration as plain data (the JSON of a scan server request uses it too)."""
    return {'scan': {'filename': scan.filename}, 'motors': dict(scan.motors),
            'counters': dict(scan.counters), 'extra_pvs': dict(scan.extra_pvs),
            'detectors': [dict(d) for d in scan.detectors]}


def apply_config(scan: 'SpecScan', config: Dict[str, Any]) -> None:
    """Replace the scan's configuration with ``config`` (as from :func:`config_dict`)."""
    scan.motors = {str(k): str(v) for k, v in config.get('motors', {}).items()}
    scan.counters = [(str(k), str(v)) for k, v in config.get('counters', {}).items()]
    scan.extra_pvs = [(str(k), str(v)) for k, v in config.get('extra_pvs', {}).items()]
    scan.detectors = []
    for det in config.get('detectors', []):
        det = dict(det)
        if 'prefix' not in det:
            raise ScanError(f'a detector of the configuration has no prefix: {det}')
        scan.add_detector(det.pop('prefix'), det.pop('kind', 'scaler'), **det)
    filename = config.get('scan', {}).get('filename')
    if filename:
        scan.filename = str(filename)


def _ini_value(text: str) -> Any:
    """'8' -> 8, 'True' -> True, '0.5' -> 0.5, anything else stays text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace('\\', '\\\\').replace('"', '\\"')
    return f'"{text}"'


def _toml_key(key: str) -> str:
    return key if key.replace('_', '').replace('-', '').isalnum() else _toml_value(key)


def _save_toml(config: Dict[str, Any], filename: str) -> None:
    lines: List[str] = []
    for table in ('scan', 'motors', 'counters', 'extra_pvs'):
        lines.append(f'[{table}]')
        lines += [f'{_toml_key(k)} = {_toml_value(v)}' for k, v in config[table].items()]
        lines.append('')
    for det in config['detectors']:
        lines.append('[[detectors]]')
        lines += [f'{_toml_key(k)} = {_toml_value(v)}' for k, v in det.items()]
        lines.append('')
    with open(filename, 'w', encoding='utf-8') as out:
        out.write('\n'.join(lines))


def _load_toml(filename: str) -> Dict[str, Any]:
    try:
        import tomllib
    except ImportError:          # Python < 3.11
        try:
            import tomli as tomllib
        except ImportError:
            raise ScanError(f'reading {filename}: TOML needs Python 3.11 or the tomli package '
                            '(pip install tomli)') from None
    with open(filename, 'rb') as source:
        try:
            return tomllib.load(source)
        except tomllib.TOMLDecodeError as exc:
            raise ScanError(f'{filename} is not valid TOML: {exc}') from None


def _parser() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str        # labels keep their case
    return parser


def _save_ini(config: Dict[str, Any], filename: str) -> None:
    parser = _parser()
    for table in ('scan', 'motors', 'counters', 'extra_pvs'):
        parser[table] = {k: str(v) for k, v in config[table].items()}
    for i, det in enumerate(config['detectors'], start=1):
        parser[f'detector {i}'] = {k: str(v) for k, v in det.items()}
    with open(filename, 'w', encoding='utf-8') as out:
        parser.write(out)


def _load_ini(filename: str) -> Dict[str, Any]:
    parser = _parser()
    try:
        parser.read(filename, encoding='utf-8')
    except configparser.Error as exc:
        raise ScanError(f'{filename} is not a valid INI configuration: {exc}') from None
    config: Dict[str, Any] = {table: dict(parser[table]) if parser.has_section(table) else {}
                              for table in ('scan', 'motors', 'counters', 'extra_pvs')}
    config['detectors'] = [
        {k: (v if k in ('prefix', 'kind', 'label') else _ini_value(v))
         for k, v in parser[name].items()}
        for name in parser.sections() if name.startswith('detector')]
    return config


def save_config(scan: 'SpecScan', filename: str) -> None:
    """Write the configuration: TOML for a ``.toml`` name, INI otherwise."""
    config = config_dict(scan)
    if filename.endswith('.toml'):
        _save_toml(config, filename)
    else:
        _save_ini(config, filename)


def load_config(scan: 'SpecScan', filename: str) -> None:
    """Read a configuration written by :func:`save_config` into ``scan``."""
    if not os.path.exists(filename):
        raise ScanError(f'configuration file {filename} does not exist')
    config = _load_toml(filename) if filename.endswith('.toml') else _load_ini(filename)
    apply_config(scan, config)
