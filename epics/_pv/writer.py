"""Writing a PV: puts with or without completion, enum state names, the PyEpics return values.

Runs on the caller's thread; a completion callback runs on the dispatcher thread.
"""
from __future__ import annotations

import numbers
from typing import Any, Callable, Optional, Union

from .. import ca, dbr
from .._errors import CANotConnectedError, CAValueError
from .common import log


class PVWriter:
    """Mixin of :class:`epics.PV`: ``put`` and what it needs."""

    def put(self, value: Any, wait: bool = False, timeout: float = 30.0,
            use_complete: bool = False, callback: Optional[Callable] = None,
            callback_data: Any = None, raise_on_error: Optional[bool] = None) -> Optional[int]:
        """Write a value; optionally wait for processing to complete or get called back.

        Parameters
        ----------
        value : object
            Number, str, sequence or array; an enum PV also takes a state name.
        wait : bool
            Block until the server has finished processing (or ``timeout`` seconds).
        timeout : float
            Most seconds to wait with ``wait=True``.
        use_complete : bool
            Don't block, but track completion in :attr:`put_complete`.
        callback : callable, optional
            ``callback(pvname=..., data=callback_data)`` when processing has completed.
        raise_on_error : bool, optional
            Raise :class:`CANotConnectedError` rather than return None when the PV does not
            connect, :class:`CAValueError` for an enum index the PV has no state for or an empty
            sequence, and :class:`CASeverityException` for a write the server completes with a
            failure (``wait=True``); by default, as in PyEpics, the index goes to the server as
            it is, the sequence fills the array, and the failure is logged.
            None: ``ca.RAISE_ON_ERROR``.

        Returns
        -------
        int or None
            1 on success, -1 if ``wait=True`` timed out, None if the PV did not connect within
            its connection timeout (as PyEpics; the failure is also logged).

        Raises
        ------
        CAValueError, CATypeError, CAAccessDenied
            for a value the PV cannot take, or a PV that may not be written.
        """
        if not self.wait_for_connection():
            message = (f"cannot put to {self.pvname!r}: not connected (waited "
                       f"{self.connection_timeout} s)")
            if ca.raising(raise_on_error):
                raise CANotConnectedError(message, pvname=self.pvname, function="put")
            log.warning("%s", message)
            return None
        if dbr.native_type(self.ftype) == dbr.ENUM:
            if isinstance(value, str):
                value = self._enum_index(value)
            elif (isinstance(value, numbers.Integral) and not isinstance(value, bool)
                  and ca.raising(raise_on_error)):
                self._check_enum_index(int(value))
        complete_callback = None
        if use_complete or callback is not None:
            def complete_callback(pvname: Optional[str] = None, **kws: Any) -> None:
                self._put_complete = True
                if callback is not None:
                    callback(pvname=pvname, **kws)
        self._put_complete = False if use_complete else None
        status = ca.put(self._chid, value, wait=wait, timeout=timeout, callback=complete_callback,
                        callback_data=callback_data, raise_on_error=raise_on_error)
        if wait and status == 1:
            # The server has processed the write, but its monitor update may still be on the
            # way: until it arrives, get() reads from the server rather than the old value.
            self._stale_after_put = True
        return status

    def _enum_index(self, value: str) -> Union[int, str]:
        """The index of an enum state name (the name itself if the server should map it)."""
        strings = self._args.get("enum_strs")
        if strings is None:
            strings = (self.get_ctrlvars() or {}).get("enum_strs")
        if strings and value in strings:
            return list(strings).index(value)
        stripped = value.strip()
        if stripped.isdigit() and strings and int(stripped) < len(strings):
            return int(stripped)
        raise CAValueError(f"{value!r} is not a state of enum PV {self.pvname!r}; its states "
                           f"are {list(strings or ())}", pvname=self.pvname, function="put")

    def _check_enum_index(self, index: int) -> None:
        """An enum index must name one of the PV's states."""
        strings = self._args.get("enum_strs")
        if strings is None:
            strings = (self.get_ctrlvars() or {}).get("enum_strs")
        if strings and not 0 <= index < len(strings):
            raise CAValueError(f"{index} is not a state index of enum PV {self.pvname!r}; its "
                               f"states are {list(strings)} (0..{len(strings) - 1})",
                               pvname=self.pvname, function="put")

    @property
    def put_complete(self) -> Optional[bool]:
        """True once the last ``put(use_complete=True)`` has completed (None if none)."""
        return self._put_complete
