"""Serve simulated synApps records (motor, scaler, mca, transform, SIS3820) with caproto.

Command line::

    python -m epics.sim.records.server --port 5064 --motors sim:m1,sim:m2 \\
        --scalers sim:scaler1 --mcas sim:mca1 --transforms sim:transform1 \\
        --struck sim:SIS1: --fake-motors sim:fm1

``--fake-motors`` serves caproto's own motor simulation (see :mod:`.fake_motor`), a server that
completes puts before the motion starts. With no record options it serves a default set (``sim:m1``..``sim:m4``,
``sim:scaler1``, ``sim:mca1``, ``sim:transform1``, ``sim:SIS1:``).  The server
binds only the given interface (127.0.0.1 by default), prints ``READY`` on
stdout once it serves, and stops on SIGINT or SIGTERM.

From Python: :func:`build_pvgroups` returns the caproto PV database (usable with
any caproto server; pass :func:`make_startup_hook` of it as the startup hook),
and :func:`run` serves it, blocking.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from typing import Dict, Iterable, List, Optional, Sequence, Union

from caproto import ChannelData

from ._record import SimRecord, _FieldChannel
from .mca import McaRecord
from .fake_motor import fake_motor_pvdb
from .motor import MotorRecord
from .scaler import ScalerRecord
from .struck import StruckRecord
from .transform import TransformRecord

__all__ = ['build_records', 'build_pvgroups', 'records_of', 'make_startup_hook', 'run',
           'main', 'DEFAULT_NAMES']

logger = logging.getLogger('epics.sim.records.server')

#: What the command line serves when given no record names.
DEFAULT_NAMES = {
    'motors': ['sim:m1', 'sim:m2', 'sim:m3', 'sim:m4'],
    'scalers': ['sim:scaler1'],
    'mcas': ['sim:mca1'],
    'transforms': ['sim:transform1'],
    'struck': ['sim:SIS1:'],
}
_KINDS = ('motors', 'scalers', 'mcas', 'transforms', 'struck', 'fake_motors')

Names = Union[str, Iterable[str], None]


def _names(value: Names) -> List[str]:
    """Accept a list of names or a comma-separated string."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(',')
    return [name.strip() for name in value if name and name.strip()]


def build_records(motors: Names = (), scalers: Names = (), mcas: Names = (),
                  transforms: Names = (), struck: Names = ()) -> List[SimRecord]:
    """Make the simulated records (top level; children hang off them).

    Parameters
    ----------
    motors, scalers, mcas, transforms, struck : list of str or str
        Record names (a Struck takes its PV prefix, e.g. ``'sim:SIS1:'``);
        a string is split at commas.

    Returns
    -------
    list of SimRecord
    """
    records: List[SimRecord] = []
    records += [MotorRecord(name) for name in _names(motors)]
    records += [ScalerRecord(name) for name in _names(scalers)]
    records += [McaRecord(name) for name in _names(mcas)]
    records += [TransformRecord(name) for name in _names(transforms)]
    records += [StruckRecord(name) for name in _names(struck)]
    return records


def _pvdb(records: Sequence[SimRecord]) -> Dict[str, ChannelData]:
    db: Dict[str, ChannelData] = {}
    everything = [rec for top in records for rec in top.walk()]
    for rec in everything:
        for pvname, chan in rec.pvdb().items():
            if pvname in db and db[pvname] is not chan:
                raise ValueError(f'PV {pvname!r} would be served twice')
            db[pvname] = chan
    for rec in everything:
        rec.bind(db)
    return db


def build_pvgroups(motors: Names = (), scalers: Names = (), mcas: Names = (),
                   transforms: Names = (), struck: Names = (),
                   fake_motors: Names = ()) -> Dict[str, ChannelData]:
    """Build the caproto PV database (``{pvname: ChannelData}``) of the simulations.

    Parameters are those of :func:`build_records`, and ``fake_motors``: names of caproto's
    fake motors (:func:`.fake_motor.fake_motor_pvdb`).  Serve the result with
    ``startup_hook=make_startup_hook(pvdb)`` so the records initialise in the
    server's loop (they also work without it, a little less completely).

    Raises
    ------
    ValueError
        If two records would serve the same PV name.
    """
    db = _pvdb(build_records(motors, scalers, mcas, transforms, struck))
    for pvname, chan in fake_motor_pvdb(_names(fake_motors)).items():
        if pvname in db:
            raise ValueError(f'PV {pvname!r} would be served twice')
        db[pvname] = chan
    return db


def records_of(pvdb: Dict[str, ChannelData]) -> List[SimRecord]:
    """The simulated records behind a PV database, in a stable order."""
    seen: Dict[int, SimRecord] = {}
    for chan in pvdb.values():
        if isinstance(chan, _FieldChannel) and id(chan.record) not in seen:
            seen[id(chan.record)] = chan.record
    return list(seen.values())


def make_startup_hook(pvdb: Dict[str, ChannelData]):
    """A caproto ``startup_hook`` that starts every record of ``pvdb``."""
    records = records_of(pvdb)

    async def startup_hook(async_lib) -> None:
        for rec in records:
            await rec.startup()
    return startup_hook


def server_environment(port: int, interface: str = '127.0.0.1') -> Dict[str, str]:
    """The environment :func:`run` sets: EPICS_CAS_* for one interface and port, and
    caproto's monitor batching delay (unless already set)."""
    env = {
        'EPICS_CAS_INTF_ADDR_LIST': interface,
        'EPICS_CAS_AUTO_BEACON_ADDR_LIST': 'NO',
        'EPICS_CAS_BEACON_ADDR_LIST': interface,
        'EPICS_CAS_SERVER_PORT': str(port),
        # caproto takes its server port from the client variable
        'EPICS_CA_SERVER_PORT': str(port),
    }
    # caproto holds each monitor update this long hoping to batch more (default
    # 10 ms); an IOC sends at once, and clients such as PyEpics' MCA.set_rois rely
    # on updates arriving within a few ms.  Read when caproto.server is imported.
    if 'CAPROTO_SERVER_HIGH_LOAD_TIMEOUT_SEC' not in os.environ:
        env['CAPROTO_SERVER_HIGH_LOAD_TIMEOUT_SEC'] = '0.001'
    repeater = os.environ.get('EPICS_CA_REPEATER_PORT')
    if repeater and 'EPICS_CAS_BEACON_PORT' not in os.environ:
        env['EPICS_CAS_BEACON_PORT'] = repeater
    return env


class _BeaconRefusedFilter(logging.Filter):
    """Drop caproto's error for a beacon nobody listens to (no CA repeater running).

    On loopback every beacon sent while no repeater listens comes back as
    'connection refused', which caproto logs with a traceback each time.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith('Failed to send beacon')


async def _serve(pvdb: Dict[str, ChannelData], port: int, interface: str) -> int:
    beacon_filter = _BeaconRefusedFilter()
    caproto_logger = logging.getLogger('caproto.ctx')
    caproto_logger.addFilter(beacon_filter)
    try:
        return await _serve_filtered(pvdb, port, interface)
    finally:
        caproto_logger.removeFilter(beacon_filter)


async def _serve_filtered(pvdb: Dict[str, ChannelData], port: int, interface: str) -> int:
    from caproto.asyncio.server import Context

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    status = {'code': 0}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):     # not the main thread / Windows
            pass
    records = records_of(pvdb)
    ctx = Context(pvdb, interfaces=[interface])

    async def startup_hook(async_lib) -> None:
        if ctx.port != port:
            logger.error('port %d is busy (caproto fell back to %s); stopping', port, ctx.port)
            status['code'] = 1
            stop.set()
            return
        for rec in records:
            await rec.startup()
        sys.stdout.write('READY\n')
        sys.stdout.flush()

    server = loop.create_task(ctx.run(startup_hook=startup_hook))
    stopper = loop.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({server, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if server in done and server.exception() is not None:
            logger.error('server failed', exc_info=server.exception())
            status['code'] = 1
    finally:
        for rec in records:
            await rec.close()
        for task in (server, stopper):
            task.cancel()
        await asyncio.wait({server, stopper}, timeout=5.0)
    return status['code']


def run(port: int, interface: str = '127.0.0.1', **names: Names) -> int:
    """Serve simulated records until SIGINT/SIGTERM; print ``READY`` once serving.

    Sets the server's EPICS_CAS_* environment variables (see
    :func:`server_environment`) in this process first.

    Parameters
    ----------
    port : int
        TCP and UDP port of the server (EPICS_CAS_SERVER_PORT).
    interface : str
        The one interface to bind.
    **names
        ``motors``, ``scalers``, ``mcas``, ``transforms``, ``struck``: record
        names, as for :func:`build_records`.

    Returns
    -------
    int
        0 after a clean stop, 1 if the server could not run on ``port``.
    """
    unknown = set(names) - set(_KINDS)
    if unknown:
        raise TypeError(f'unknown record kinds: {sorted(unknown)}')
    os.environ.update(server_environment(port, interface))
    if 'caproto.server.common' in sys.modules:
        logger.debug('caproto.server already imported: its monitor batching delay stays')
    pvdb = build_pvgroups(**names)
    return asyncio.run(_serve(pvdb, port, interface))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog='python -m epics.sim.records.server',
        description='Serve simulated synApps records over Channel Access.')
    parser.add_argument('--port', type=int,
                        default=int(os.environ.get('EPICS_CAS_SERVER_PORT', 5064)),
                        help='server port (default: $EPICS_CAS_SERVER_PORT or 5064)')
    parser.add_argument('--interface', default='127.0.0.1',
                        help='interface to bind (default: 127.0.0.1)')
    for kind in _KINDS:
        parser.add_argument(f'--{kind.replace("_", "-")}', dest=kind, default='',
                            metavar='NAME[,NAME...]',
                            help=f'{kind} to serve (comma-separated)')
    parser.add_argument('-v', '--verbose', action='count', default=0,
                        help='log more (once: our INFO and caproto warnings; twice: '
                             'caproto debug)')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format='%(asctime)s %(name)s %(levelname)s: %(message)s')
    # caproto warns about batching latency under load ("High load. Batched ..."):
    # normal for a simulator with many monitored PVs, so only shown with -v
    caproto_level = {0: logging.ERROR, 1: logging.WARNING}.get(args.verbose, logging.DEBUG)
    logging.getLogger('caproto').setLevel(caproto_level)
    names = {kind: _names(getattr(args, kind)) for kind in _KINDS}
    if not any(names.values()):
        names = {kind: list(value) for kind, value in DEFAULT_NAMES.items()}
    return run(args.port, args.interface, **names)


if __name__ == '__main__':
    sys.exit(main())
