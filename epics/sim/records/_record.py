"""Simulations of the synApps records that EPICS base lacks, served by caproto.

Modules
-------
``motor``      the motor record: moves at VELO with ACCL, soft and hard limits,
               SET/USE calibration, STOP/SPMG, tweak, jog, home, backlash.
``scaler``     the scaler record, plus the ``_calcN`` calc records and the
               ``_calcEnable`` PV of synApps' scaler databases.
``mca``        the mca record: PHA spectra (peaks on a background) with ROIs.
``transform``  the transform and calc records, and the safe calc-expression engine.
``struck``     the SIS3820 multichannel scaler: driver PVs and one mca per channel.
``sscan``      the sscan record: step scans of the other simulated records.
``areadetector`` a camera with image, file and overlay plugins.
``server``     builds the caproto PV database and serves it
               (``python -m epics.sim.records.server --port P --motors sim:m1``).

This module holds what the records share: the field tables (:class:`Field`), the
caproto channel classes that route a client's put into its record, and the record
base class :class:`SimRecord`.

Who runs what
-------------
Everything runs on the single asyncio event loop of the caproto server; there are
no threads.  caproto runs each client put as its own task.  A record serialises its
processing with an asyncio lock (the record lock of an IOC), so the checks of a put,
the fields it posts and the start of any motion happen as one step.  Long
activities (a move, a count, an acquisition) run as tasks owned by the record, and
a put that asked for completion (``ca_put_callback``) awaits the record's *done*
event outside the lock, so other puts (STOP) are served meanwhile.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np
from caproto import (AccessRights, ChannelAlarm, ChannelData, ChannelDouble,
                     ChannelEnum, ChannelInteger, ChannelShort, ChannelString)

__all__ = ['Field', 'SimRecord', 'LazyEvent', 'SKIP', 'MAX_PUT_WAIT', 'dbl', 'lng',
           'sht', 'menu', 'text', 'ALARM_STATUS', 'ALARM_SEVERITY']

logger = logging.getLogger('epics.sim.records')

#: Returned by :meth:`SimRecord.on_put` to drop a put silently (nothing stored).
SKIP = object()

#: Longest time (s) the server holds a put-with-completion open.  Moves and
#: counts are bounded by their own parameters; this bounds the pathological ones
#: (a crawling motor, an mca without presets) so no server task waits forever.
MAX_PUT_WAIT = 3600.0

#: Pause (s) before a put-with-completion answers, after the monitors it caused
#: left the server's queue: caproto batches a circuit's updates for ~10 ms, and the
#: reply should not overtake the final values (a client reading right after a
#: completed count must see the final counts).
COMPLETION_GRACE = 0.03

#: The first 16 choices of EPICS' alarm status menu (CA enums hold 16 strings).
ALARM_STATUS = ('NO_ALARM', 'READ', 'WRITE', 'HIHI', 'HIGH', 'LOLO', 'LOW',
                'STATE', 'COS', 'COMM', 'TIMEOUT', 'HWLIMIT', 'CALC', 'SCAN',
                'LINK', 'SOFT')
ALARM_SEVERITY = ('NO_ALARM', 'MINOR', 'MAJOR', 'INVALID')


@dataclass(frozen=True)
class Field:
    """Description of one record field: its name, CA type and default.

    ``kind`` is one of ``'double'``, ``'long'``, ``'short'``, ``'enum'`` and
    ``'string'``; ``count`` > 1 makes an array; ``readonly`` fields refuse
    client writes (the record still posts them).  ``pvnames``, when given,
    replaces the default ``<record><delim><name>`` PV name (used for the
    companion PVs like a motor's ``_able``); ``rtyp`` is the record type such a
    PV reports.
    """
    name: str
    kind: str = 'double'
    value: Any = None
    enums: Tuple[str, ...] = ()
    count: int = 1
    readonly: bool = False
    pvnames: Tuple[str, ...] = ()
    rtyp: Optional[str] = None


def dbl(name: str, value: float = 0.0, *, ro: bool = False, count: int = 1) -> Field:
    """A DBF_DOUBLE field (or double array when ``count`` > 1)."""
    return Field(name, 'double', value, count=count, readonly=ro)


def lng(name: str, value: int = 0, *, ro: bool = False, count: int = 1) -> Field:
    """A DBF_LONG field (or long array when ``count`` > 1)."""
    return Field(name, 'long', value, count=count, readonly=ro)


def sht(name: str, value: int = 0, *, ro: bool = False) -> Field:
    """A DBF_SHORT field."""
    return Field(name, 'short', value, readonly=ro)


def menu(name: str, choices: Sequence[str], value: int = 0, *, ro: bool = False) -> Field:
    """A DBF_MENU/DBF_ENUM field with the given choices."""
    return Field(name, 'enum', value, enums=tuple(choices), readonly=ro)


def text(name: str, value: str = '', *, ro: bool = False) -> Field:
    """A DBF_STRING field (links are served as strings too, as in an IOC)."""
    return Field(name, 'string', value, readonly=ro)


class _FieldChannel:
    """Mixin for caproto channel classes: a client put goes to the record.

    caproto calls :meth:`write` both for client puts (through
    ``write_from_dbr``, with ``verify_value=True``) and, from the records, for
    internal posts (always with ``verify_value=False``).  The first kind is
    handed to :meth:`SimRecord.put`, which decides what gets stored; the
    second stores and publishes the value as given.
    """

    def __init__(self, *, record: 'SimRecord', field: str, readonly: bool, **kwargs):
        super().__init__(**kwargs)
        self.record = record
        self.field = field
        self.readonly = readonly

    def check_access(self, hostname, username):
        if self.readonly:
            return AccessRights.READ
        return AccessRights.READ | AccessRights.WRITE

    async def write(self, value, *, flags=0, verify_value=True, update_fields=True,
                    **metadata):
        if verify_value:
            await self.record.put(self.field, value)
            return
        await super().write(value, flags=flags, verify_value=False,
                            update_fields=update_fields, **metadata)


class _DoubleChannel(_FieldChannel, ChannelDouble):
    """A record field served as DBR_DOUBLE."""


class _LongChannel(_FieldChannel, ChannelInteger):
    """A record field served as DBR_LONG."""


class _ShortChannel(_FieldChannel, ChannelShort):
    """A record field served as DBR_SHORT."""


class _EnumChannel(_FieldChannel, ChannelEnum):
    """A record field served as DBR_ENUM."""


class _StringChannel(_FieldChannel, ChannelString):
    """A record field served as DBR_STRING."""


_CHANNEL_CLASSES = {'double': _DoubleChannel, 'long': _LongChannel,
                    'short': _ShortChannel, 'enum': _EnumChannel,
                    'string': _StringChannel}
_NUMERIC_DTYPES = {'double': np.float64, 'long': np.int32, 'short': np.int16}


class LazyEvent:
    """A record's :class:`asyncio.Event` attribute, made on its first use.

    Records are built before the server's event loop runs, and before Python 3.10
    an Event binds to the loop current when it is made; so each record makes its
    events on first use, inside the loop.  Declared in the class body::

        _done_event = LazyEvent(initially_set=True)   # set: nothing under way

    Parameters
    ----------
    initially_set : bool
        Whether the new Event starts set.
    """

    def __init__(self, initially_set: bool = False):
        self._initially_set = initially_set
        self._slot = ''

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f'_lazy{name}'

    def __get__(self, record: Any, owner: Optional[type] = None) -> Any:
        if record is None:
            return self
        event = record.__dict__.get(self._slot)
        if event is None:
            event = asyncio.Event()
            if self._initially_set:
                event.set()
            record.__dict__[self._slot] = event
        return event


class SimRecord:
    """Base class of a simulated record: a set of fields served as CA channels.

    Subclasses list their fields in :meth:`fields` and react to puts in
    :meth:`on_put` (before the value is stored: may change or refuse it) and
    :meth:`after_put` (after it is stored: starts activities, and may return an
    :class:`asyncio.Event` that a put-with-completion waits for).  Both run
    under the record lock.  Fields are read with :meth:`get` and changed with
    :meth:`post`.

    Parameters
    ----------
    name : str
        The record name (the PV prefix), e.g. ``'sim:m1'``.
    """

    #: What ``.RTYP`` and DBR_CLASS_NAME report.
    record_type = 'record'
    #: Between the record name and a field name.
    delim = '.'
    #: The field served under the bare record name (None: no bare name).
    bare_field: Optional[str] = 'VAL'
    #: Whether the common fields (NAME, RTYP, DESC, STAT, SEVR) are added.
    common_fields = True

    def __init__(self, name: str):
        self.name = name
        self._chans: Dict[str, ChannelData] = {}
        self._kinds: Dict[str, str] = {}
        self._names: Dict[str, List[str]] = {}
        self._alarm = ChannelAlarm()
        self._lock: Optional[asyncio.Lock] = None
        self._tasks: Set[asyncio.Task] = set()
        self._db: Optional[Dict[str, ChannelData]] = None
        #: Records served along with this one (a scaler's calc records, a
        #: Struck's mcas); the server builds, binds, starts and closes them too.
        self.children: List['SimRecord'] = []
        specs = list(self.fields())
        if self.common_fields:
            specs += [text('NAME', name, ro=True),
                      text('RTYP', self.record_type, ro=True),
                      text('DESC', ''),
                      menu('STAT', ALARM_STATUS, 0, ro=True),
                      menu('SEVR', ALARM_SEVERITY, 0, ro=True)]
        for spec in specs:
            if spec.name not in self._chans:
                self._add_field(spec)

    def walk(self) -> List['SimRecord']:
        """This record followed by its children, depth first."""
        records: List[SimRecord] = [self]
        for child in self.children:
            records.extend(child.walk())
        return records

    # -- building ---------------------------------------------------------
    def fields(self) -> Iterable[Field]:
        """The record's fields (override)."""
        return ()

    def _add_field(self, spec: Field) -> None:
        cls = _CHANNEL_CLASSES[spec.kind]
        kwargs: Dict[str, Any] = dict(record=self, field=spec.name,
                                      readonly=spec.readonly,
                                      reported_record_type=spec.rtyp or self.record_type)
        if spec.name not in ('STAT', 'SEVR'):
            kwargs['alarm'] = self._alarm
        if spec.kind == 'enum':
            kwargs['enum_strings'] = spec.enums
            kwargs['value'] = spec.enums[int(spec.value or 0)]
        elif spec.kind == 'string':
            kwargs['value'] = '' if spec.value is None else str(spec.value)
        else:
            dtype = _NUMERIC_DTYPES[spec.kind]
            default = 0 if spec.value is None else spec.value
            if spec.count > 1:
                kwargs['value'] = np.zeros(spec.count, dtype=dtype) + default
                kwargs['max_length'] = spec.count
            else:
                kwargs['value'] = float(default) if spec.kind == 'double' else int(default)
            if spec.kind == 'double':
                kwargs['precision'] = self.default_precision(spec.name)
            kwargs['units'] = self.default_units(spec.name)
        self._chans[spec.name] = cls(**kwargs)
        self._kinds[spec.name] = spec.kind
        if spec.pvnames:
            self._names[spec.name] = list(spec.pvnames)
        else:
            self._names[spec.name] = [f'{self.name}{self.delim}{spec.name}']

    def default_precision(self, field: str) -> int:
        """The display precision a double field starts with (override)."""
        return 3

    def default_units(self, field: str) -> str:
        """The engineering units a numeric field starts with (override)."""
        return ''

    def pvdb(self) -> Dict[str, ChannelData]:
        """Return ``{pvname: channel}`` for every field of this record."""
        db: Dict[str, ChannelData] = {}
        for field, chan in self._chans.items():
            for pvname in self._names[field]:
                db[pvname] = chan
        if self.bare_field is not None and self.bare_field in self._chans:
            db[self.name] = self._chans[self.bare_field]
        return db

    def bind(self, db: Dict[str, ChannelData]) -> None:
        """Give the record the whole server database, for its links."""
        self._db = db

    async def startup(self) -> None:
        """Called once in the server's event loop before it reports READY (override)."""

    # -- field access -----------------------------------------------------
    @property
    def lock(self) -> asyncio.Lock:
        """The record lock (made on first use, inside the server's loop)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def has_field(self, field: str) -> bool:
        """Whether the record has this field."""
        return field in self._chans

    def channel(self, field: str) -> ChannelData:
        """The caproto channel of a field."""
        return self._chans[field]

    def get(self, field: str) -> Any:
        """Current value of a field; an enum is returned as its index."""
        chan = self._chans[field]
        value = chan.value
        if self._kinds[field] == 'enum':
            try:
                return chan.enum_strings.index(value)
            except ValueError:
                return 0
        return value

    def _to_native(self, field: str, value: Any) -> Any:
        """Convert a Python value to what the field's channel stores."""
        kind = self._kinds[field]
        chan = self._chans[field]
        if kind == 'enum':
            if isinstance(value, str):
                return value
            index = int(value)
            strings = chan.enum_strings
            return strings[index] if 0 <= index < len(strings) else strings[0]
        if kind == 'string':
            return str(value)
        if chan.max_length > 1:
            return np.array(value, dtype=_NUMERIC_DTYPES[kind])
        if kind == 'double':
            return float(value)
        return int(value)

    def _from_client(self, field: str, raw: Any) -> Any:
        """Normalise a value written by a client (enum -> index, arrays -> numpy)."""
        kind = self._kinds[field]
        chan = self._chans[field]
        value = chan.preprocess_value(raw)
        if kind == 'enum':
            if isinstance(value, bytes):
                value = value.decode(chan.string_encoding)
            if isinstance(value, str):
                strings = chan.enum_strings
                if value in strings:
                    return strings.index(value)
                try:
                    value = int(value)
                except ValueError:
                    raise ValueError(f'{self.name}.{field}: {value!r} is not one '
                                     f'of {strings}') from None
            index = int(value)
            if not 0 <= index < len(chan.enum_strings):
                raise ValueError(f'{self.name}.{field}: enum index {index} out of range')
            return index
        if kind == 'string':
            if isinstance(value, bytes):
                value = value.decode(chan.string_encoding)
            return str(value)
        if chan.max_length > 1:
            return np.asarray(value, dtype=_NUMERIC_DTYPES[kind])
        if kind == 'double':
            return float(value)
        return int(value)

    async def post(self, field: str, value: Any, *, force: bool = False) -> None:
        """Store a field value and send it to subscribers (no put processing).

        A scalar equal to the current value is not re-posted unless ``force``.
        """
        chan = self._chans[field]
        native = self._to_native(field, value)
        if not force and chan.max_length == 1 and chan.value == native:
            return
        await chan.write(native, verify_value=False)

    async def post_many(self, **values: Any) -> None:
        """:meth:`post` several fields, in the order given."""
        for field, value in values.items():
            await self.post(field, value)

    async def set_metadata(self, fields: Iterable[str], **metadata: Any) -> None:
        """Update display metadata (units, precision, limits) of some fields."""
        for field in fields:
            chan = self._chans.get(field)
            if chan is None:
                continue
            md = dict(metadata)
            if not hasattr(chan, 'precision'):
                md.pop('precision', None)
            if not hasattr(chan, 'units'):
                md.pop('units', None)
            if md:
                await chan.write_metadata(**md)

    async def set_alarm(self, status: int, severity: int) -> None:
        """Set the record's alarm status and severity (STAT, SEVR, all fields)."""
        if self.get('STAT') == status and self.get('SEVR') == severity:
            return
        await self.post('STAT', status)
        await self.post('SEVR', severity)
        await self._alarm.write(status=status, severity=severity)

    # -- put processing ---------------------------------------------------
    async def put(self, field: str, raw: Any, *, wait: bool = True) -> None:
        """Process a put to a field, as from a client or a link.

        With ``wait`` (a client's put-with-completion, or any client put: the
        CA server answers a plain put only after this returns, which the client
        does not wait for) this returns when the activity the put started is
        done, bounded by :data:`MAX_PUT_WAIT`.
        """
        value = self._from_client(field, raw)
        async with self.lock:
            result = await self.on_put(field, value)
            if result is SKIP:
                return
            await self.post(field, result, force=True)
            done = await self.after_put(field, result)
        if done is not None and wait:
            try:
                await asyncio.wait_for(done.wait(), MAX_PUT_WAIT)
            except asyncio.TimeoutError:
                logger.warning('%s.%s: put completion gave up after %.0f s',
                               self.name, field, MAX_PUT_WAIT)
            await self.flush_monitors()

    async def flush_monitors(self, timeout: float = 1.0) -> None:
        """Wait (bounded) until the monitor updates posted so far have left the server.

        caproto puts every update on its context's subscription queue, which the
        channels of this record (and of its children) know as the keys of their
        subscriber table; once those queues are empty, a short pause covers the
        per-circuit batching.
        """
        queues = {}
        for rec in self.walk():
            for chan in rec._chans.values():
                for queue in getattr(chan, '_queues', {}):
                    if hasattr(queue, 'empty'):
                        queues[id(queue)] = queue
        step = 0.005
        for _ in range(int(timeout / step)):
            if all(queue.empty() for queue in queues.values()):
                break
            await asyncio.sleep(step)
        await asyncio.sleep(COMPLETION_GRACE)

    async def on_put(self, field: str, value: Any) -> Any:
        """Check or change a put before it is stored; return :data:`SKIP` to drop it.

        Raising an exception refuses the put (the client sees ECA_PUTFAIL).
        """
        return value

    async def after_put(self, field: str, value: Any) -> Optional[asyncio.Event]:
        """React to a stored put; return an event to hold put-completion until set."""
        return None

    # -- links --------------------------------------------------------------
    def resolve_link(self, link: str) -> Optional[ChannelData]:
        """Find the channel a link string names in this server, or None.

        Link options after the name (``NPP``, ``CP``, ``MS`` ...) are ignored,
        and ``rec`` means ``rec.VAL`` as in an IOC.
        """
        if self._db is None:
            return None
        parts = link.split()
        if not parts:
            return None
        name = parts[0]
        chan = self._db.get(name)
        if chan is None and '.' not in name:
            chan = self._db.get(name + '.VAL')
        return chan

    @staticmethod
    def link_value(chan: ChannelData) -> float:
        """The numeric value of a linked channel (enum index, first array element)."""
        value = chan.value
        if isinstance(chan, ChannelEnum):
            try:
                return float(chan.enum_strings.index(value))
            except ValueError:
                return 0.0
        if isinstance(value, (list, tuple, np.ndarray)):
            value = value[0] if len(value) else 0.0
        try:
            return float(value)
        except (TypeError, ValueError):
            return 0.0

    def write_link(self, chan: ChannelData, value: float) -> None:
        """Write a value through an output link, without waiting for completion.

        The write runs as its own task, after this record's lock is released,
        so records linked in a loop cannot deadlock; it is skipped when the
        target already holds the value, so such a loop settles.
        """
        current = self.link_value(chan)
        if current == value:
            return

        async def _write() -> None:
            try:
                if isinstance(chan, _FieldChannel):
                    if chan.record is self:
                        async with self.lock:
                            await self.post(chan.field, value)
                    else:
                        await chan.record.put(chan.field, value, wait=False)
                else:
                    await chan.write(value)
            except Exception:
                logger.exception('%s: output link write failed', self.name)

        self.spawn(_write())

    # -- tasks --------------------------------------------------------------
    def spawn(self, coro) -> asyncio.Task:
        """Run a coroutine as a task owned by this record (cancelled by close())."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error('%s: task failed', self.name, exc_info=task.exception())

    async def close(self) -> None:
        """Cancel the record's tasks (idempotent; bounded by a 2 s wait)."""
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
