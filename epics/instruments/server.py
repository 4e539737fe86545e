"""Server mode: carry out "go to" and "save" requests that any CA client writes to a few PVs.

The PVs (:mod:`epics.instruments.layout`) are served by an IOC, e.g. the training IOC's
``sim:inst:``. A client (SPEC, IDL, a script, ``caput``) writes the instrument and position
names, then ``Go To`` or ``Save`` to ``command``; the server sets ``busy`` and ``status``, shows
progress in ``message``, and at the end writes the outcome to ``message``, ``Done`` or ``Error``
to ``status``, ``Idle`` to ``command`` and finally 0 to ``busy``.

Requests are carried out one at a time, in the order they arrive. When the IOC restarts, the
server notices the reconnection, drops any request value it finds there (it was not written to
this server), and publishes its idle state again; nothing else is needed.

Threads: :meth:`InstrumentServer.run` runs in the caller's thread and does all the work (CA
puts, motion, the SQLite file). The CA callbacks (a new ``command`` value, a connection change)
run on the dispatcher thread and only put an item on a queue.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable, Dict, Optional, Tuple

from epics import PV
from epics.ca import ChannelAccessException

from . import layout
from .errors import InstrumentError
from .restore import DEFAULT_RESTORE_TIMEOUT
from .store import InstrumentFile

__all__ = ["InstrumentServer"]

log = logging.getLogger("epics.instruments.server")

#: Seconds a status PV may take to connect or answer before the server gives up on a write.
PV_TIMEOUT = 2.0
#: Seconds between checks of the stop event while no request arrives.
IDLE_WAIT = 0.5

_CONNECTED = "connected"
_COMMAND = "command"


class InstrumentServer:
    """Serve the requests written to the PVs under ``prefix`` with the instruments of ``file``.

    Parameters
    ----------
    file : InstrumentFile
        Where instruments and positions are read and saved.
    prefix : str
        The PV prefix, e.g. ``'sim:inst:'``.
    restore_timeout : float
        Most seconds a "go to" may take.
    """

    def __init__(self, file: InstrumentFile, prefix: str,
                 restore_timeout: float = DEFAULT_RESTORE_TIMEOUT) -> None:
        self.file = file
        self.prefix = prefix
        self.restore_timeout = restore_timeout
        self._requests: "queue.Queue[Tuple[str, Any]]" = queue.Queue()
        self._pvs: Dict[str, PV] = {}
        #: Requests carried out (for tests and logs).
        self.handled = 0

    # --- CA callbacks (dispatcher thread): only enqueue -----------------------------------------

    def _on_command(self, value: Any = None, **kws: Any) -> None:
        self._requests.put((_COMMAND, value))

    def _on_connection(self, conn: bool = False, **kws: Any) -> None:
        if conn:
            self._requests.put((_CONNECTED, None))

    # --- the server thread ----------------------------------------------------------------------

    def _pv(self, suffix: str) -> PV:
        return self._pvs[suffix]

    def _put(self, suffix: str, value: Any) -> None:
        """Write a status PV, waiting for it; a lost IOC is logged, not raised."""
        try:
            self._pv(suffix).put(value, wait=True, timeout=PV_TIMEOUT)
        except ChannelAccessException as exc:
            log.warning("could not write %s%s: %s", self.prefix, suffix, exc)

    def _say(self, text: str) -> None:
        log.info("%s", text)
        self._put(layout.MESSAGE, text[: layout.MESSAGE_LENGTH - 1])

    def _read_name(self, suffix: str) -> str:
        value = self._pv(suffix).get(as_string=True, use_monitor=False, timeout=PV_TIMEOUT)
        if value is None:
            raise InstrumentError(f"no answer from {self.prefix}{suffix}")
        return str(value).strip()

    def _open(self) -> None:
        for suffix in (layout.INSTRUMENT, layout.POSITION, layout.STATUS, layout.MESSAGE,
                       layout.BUSY):
            self._pvs[suffix] = PV(self.prefix + suffix, connection_timeout=PV_TIMEOUT)
        self._pvs[layout.COMMAND] = PV(self.prefix + layout.COMMAND, callback=self._on_command,
                                       connection_callback=self._on_connection,
                                       connection_timeout=PV_TIMEOUT)

    def _publish_idle(self) -> None:
        """After a (re)connection: drop request values found on the IOC, say we are ready."""
        dropped = []
        while True:
            try:
                kind, value = self._requests.get_nowait()
            except queue.Empty:
                break
            if kind == _COMMAND and value not in (None, layout.IDLE):
                dropped.append(value)
        if dropped:
            log.warning("ignored command value(s) %s found at connection (not written to this "
                        "server)", dropped)
        self._put(layout.COMMAND, layout.IDLE)
        self._put(layout.STATUS, layout.STATUSES.index("Idle"))
        self._say(f"ready: serving {self.file.path.name}")
        self._put(layout.BUSY, 0)

    def _carry_out(self, command: int) -> Tuple[bool, str]:
        """Do one request; returns (success, message)."""
        instrument = self._read_name(layout.INSTRUMENT)
        position = self._read_name(layout.POSITION)
        if command == layout.SAVE:
            self._say(f"saving {instrument!r} as {position!r}")
            self.file.save_position(instrument, position)
            return True, f"saved {instrument!r} as {position!r}"
        self._say(f"going to {position!r} of {instrument!r}")
        report = self.file.restore_position(instrument, position, timeout=self.restore_timeout,
                                            progress=self._say)
        return report.ok, report.summary()

    def _handle(self, command: Any) -> None:
        if command not in (layout.GO_TO, layout.SAVE):
            return   # Idle (our own reset), or a value we do not know
        self._put(layout.BUSY, 1)
        self._put(layout.STATUS, layout.STATUSES.index("Busy"))
        try:
            ok, text = self._carry_out(int(command))
        except (InstrumentError, KeyError, ValueError, ChannelAccessException) as exc:
            ok, text = False, str(exc)
        except Exception as exc:   # noqa: BLE001 - the server must keep serving
            log.exception("request %r failed", command)
            ok, text = False, f"internal error: {type(exc).__name__}: {exc}"
        self._say(("done: " if ok else "error: ") + text)
        self._put(layout.STATUS, layout.STATUSES.index("Done" if ok else "Error"))
        self._put(layout.COMMAND, layout.IDLE)
        self._put(layout.BUSY, 0)
        self.handled += 1

    def run(self, stop: threading.Event, on_ready: Optional[Callable[[], None]] = None) -> None:
        """Serve until ``stop`` is set (checked at least every IDLE_WAIT seconds; a request in
        progress is finished first). ``on_ready`` is called once the PVs are set up."""
        self._open()
        log.info("serving %s on %s*", self.file.path, self.prefix)
        if on_ready is not None:
            on_ready()
        try:
            while not stop.is_set():
                try:
                    kind, value = self._requests.get(timeout=IDLE_WAIT)
                except queue.Empty:
                    continue
                if kind == _CONNECTED:
                    self._publish_idle()
                else:
                    self._handle(value)
        finally:
            self.close()

    def close(self) -> None:
        """Release the PVs (idempotent)."""
        for pv in self._pvs.values():
            pv.disconnect()
        self._pvs.clear()
