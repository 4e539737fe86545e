"""What caget and camonitor return: values augmented with metadata, and CANothing.

An augmented value is an ordinary ``str``, ``bytes``, ``int``, ``float`` or numpy array with extra
attributes (``.name``, ``.ok``, ``.timestamp``, ``.severity``, ``.units``...), as in aioca. They
are made on the dispatcher thread (epics.ca's callback thread) and read on the event loop's thread;
they are never changed once made.
"""
from __future__ import annotations

import datetime as _datetime
from typing import Any

import numpy

from .. import ca

__all__ = ["CANothing", "ca_str", "ca_bytes", "ca_int", "ca_float", "ca_array", "augment"]

ECA_NORMAL = 1
ECA_TIMEOUT = 80
ECA_DISCONN = 192


class CANothing(Exception):  # noqa: N818 (aioca's name)
    """No value: the result of a failed operation (``throw=False``), raised as an exception
    otherwise; also what a successful :func:`caput` or :func:`connect` returns.

    It is falsy when it reports a failure. ``.name`` is the PV name, ``.ok`` whether the
    operation succeeded and ``.errorcode`` the CA status code (``ECA_NORMAL`` = 1 on success).
    """

    def __init__(self, name: str, errorcode: int = ECA_NORMAL) -> None:
        super().__init__(name, errorcode)
        self.name = name
        self.errorcode = errorcode
        self.ok = errorcode == ECA_NORMAL

    def __repr__(self) -> str:
        return f"CANothing({self.name!r}, {self.errorcode})"

    def __str__(self) -> str:
        return f"{self.name}: {ca.message(self.errorcode)}"

    def __bool__(self) -> bool:
        return self.ok


@property  # type: ignore[misc]
def _as_datetime(self: Any) -> _datetime.datetime:
    """The timestamp as a local-time :class:`datetime.datetime`."""
    return _datetime.datetime.fromtimestamp(self.timestamp)


class ca_str(str):  # noqa: N801 (aioca's names)
    """A ``str`` with the attributes of an augmented value."""
    datetime = _as_datetime

    def __pos__(self) -> str:
        return str(self)


class ca_bytes(bytes):  # noqa: N801
    """A ``bytes`` with the attributes of an augmented value."""
    datetime = _as_datetime

    def __pos__(self) -> bytes:
        return bytes(self)


class ca_int(int):  # noqa: N801
    """An ``int`` with the attributes of an augmented value."""
    datetime = _as_datetime


class ca_float(float):  # noqa: N801
    """A ``float`` with the attributes of an augmented value."""
    datetime = _as_datetime


class ca_array(numpy.ndarray):  # noqa: N801
    """A numpy array with the attributes of an augmented value (every value of more than one
    element, and every value of a channel whose element count is not 1)."""
    datetime = _as_datetime
    __hash__ = None  # type: ignore[assignment]

    def __pos__(self) -> numpy.ndarray:
        return numpy.array(self)


#: metadata keys of epics.dbr (PyEpics's names) that aioca calls the same
_SAME_KEYS = ("status", "severity", "units", "upper_disp_limit", "lower_disp_limit",
              "upper_alarm_limit", "lower_alarm_limit", "upper_warning_limit",
              "lower_warning_limit", "upper_ctrl_limit", "lower_ctrl_limit", "precision",
              "ackt", "acks")


def augment(value: Any, metadata: dict, fields: dict) -> Any:
    """Give ``value`` (already one of the ca_ types) the attributes of ``fields`` (name, ok,
    datatype, element_count) and of epics.dbr's ``metadata``, under aioca's names."""
    attributes = value.__dict__
    attributes.update(fields)
    if not metadata:
        return value
    if "posixseconds" in metadata:   # TIME: the monitor hot path, without a loop
        seconds, nanoseconds = metadata["posixseconds"], metadata["nanoseconds"]
        attributes["status"] = metadata["status"]
        attributes["severity"] = metadata["severity"]
        attributes["raw_stamp"] = (seconds, nanoseconds)
        attributes["timestamp"] = round(seconds + nanoseconds * 1e-9, 6)
        return value
    for key in _SAME_KEYS:
        if key in metadata:
            attributes[key] = metadata[key]
    if "enum_strs" in metadata:
        attributes["enums"] = list(metadata["enum_strs"])
    return value
