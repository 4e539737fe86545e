"""Channel Access status codes and the exceptions they become.

A leaf module: the one table of CA status codes (``caerr.h``) and the exception hierarchy.
Every exception derives from :class:`ChannelAccessException` (PyEpics's root, so existing
``except ChannelAccessException`` keeps working) and also from the matching builtin, so
``except TimeoutError`` or ``except PermissionError`` work as a Python user expects.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

__all__ = [
    "ChannelAccessException", "CASeverityException", "ChannelAccessGetFailure", "CATimeoutError",
    "CANotConnectedError", "CAAccessDenied", "CAValueError", "CATypeError", "CAFinalizedError",
    "CADeadlockError", "ECA", "status_name", "status_message", "error_for_status",
]

# Severity bits of a CA status code (caerr.h).
CA_K_WARNING, CA_K_SUCCESS, CA_K_ERROR, CA_K_INFO, CA_K_SEVERE = 0, 1, 2, 3, 4
CA_K_FATAL = CA_K_ERROR | CA_K_SEVERE


def _defmsg(severity: int, number: int) -> int:
    """The status code caerr.h's DEFMSG macro builds."""
    return ((number << 3) & 0xFFF8) | (severity & 0x7)


# name: (severity, number, message); the messages are libca's own (ca_message) for the live codes.
_TABLE: Dict[str, Tuple[int, int, str]] = {
    "NORMAL": (CA_K_SUCCESS, 0, "Normal successful completion"),
    "MAXIOC": (CA_K_ERROR, 1, "Maximum simultaneous IOC connections exceeded"),
    "UKNHOST": (CA_K_ERROR, 2, "Unknown internet host"),
    "UKNSERV": (CA_K_ERROR, 3, "Unknown internet service"),
    "SOCK": (CA_K_ERROR, 4, "Unable to allocate a new socket"),
    "CONN": (CA_K_WARNING, 5, "Unable to connect to internet host or service"),
    "ALLOCMEM": (CA_K_WARNING, 6, "Unable to allocate additional dynamic memory"),
    "UKNCHAN": (CA_K_WARNING, 7, "Unknown IO channel"),
    "UKNFIELD": (CA_K_WARNING, 8, "Record field specified inappropriate for channel specified"),
    "TOLARGE": (CA_K_WARNING, 9, "The requested transfer is greater than available memory "
                                  "or EPICS_CA_MAX_ARRAY_BYTES"),
    "TIMEOUT": (CA_K_WARNING, 10, "User specified timeout on IO operation expired"),
    "NOSUPPORT": (CA_K_WARNING, 11, "Sorry, that feature is planned but not supported at this time"),
    "STRTOBIG": (CA_K_WARNING, 12, "The supplied string is unusually large"),
    "DISCONNCHID": (CA_K_ERROR, 13, "The request was ignored because the specified channel is "
                                    "disconnected"),
    "BADTYPE": (CA_K_ERROR, 14, "The data type specifed is invalid"),
    "CHIDNOTFND": (CA_K_INFO, 15, "Remote Channel not found"),
    "CHIDRETRY": (CA_K_INFO, 16, "Unable to locate all user specified channels"),
    "INTERNAL": (CA_K_FATAL, 17, "Channel Access Internal Failure"),
    "DBLCLFAIL": (CA_K_WARNING, 18, "The requested local DB operation failed"),
    "GETFAIL": (CA_K_WARNING, 19, "Channel read request failed"),
    "PUTFAIL": (CA_K_WARNING, 20, "Channel write request failed"),
    "ADDFAIL": (CA_K_WARNING, 21, "Channel subscription request failed"),
    "BADCOUNT": (CA_K_WARNING, 22, "Invalid element count requested"),
    "BADSTR": (CA_K_ERROR, 23, "Invalid string"),
    "DISCONN": (CA_K_WARNING, 24, "Virtual circuit disconnect"),
    "DBLCHNL": (CA_K_WARNING, 25, "Identical process variable names on multiple servers"),
    "EVDISALLOW": (CA_K_ERROR, 26, "Request inappropriate within subscription (monitor) update "
                                   "callback"),
    "BUILDGET": (CA_K_WARNING, 27, "Database value get for that channel failed during channel "
                                   "search"),
    "NEEDSFP": (CA_K_WARNING, 28, "Unable to initialize without the vxWorks VX_FP_TASK task "
                                  "option set"),
    "OVEVFAIL": (CA_K_WARNING, 29, "Event queue overflow has prevented first pass event after "
                                   "event add"),
    "BADMONID": (CA_K_ERROR, 30, "Bad event subscription (monitor) identifier"),
    "NEWADDR": (CA_K_WARNING, 31, "Remote channel has new network address"),
    "NEWCONN": (CA_K_INFO, 32, "New or resumed network connection"),
    "NOCACTX": (CA_K_WARNING, 33, "Specified task isnt a member of a CA context"),
    "DEFUNCT": (CA_K_FATAL, 34, "Attempt to use defunct CA feature failed"),
    "EMPTYSTR": (CA_K_WARNING, 35, "The supplied string is empty"),
    "NOREPEATER": (CA_K_WARNING, 36, "Unable to spawn the CA repeater thread- auto reconnect will "
                                     "fail"),
    "NOCHANMSG": (CA_K_WARNING, 37, "No channel id match for search reply- search reply ignored"),
    "DLCKREST": (CA_K_WARNING, 38, "Reseting dead connection- will try to reconnect"),
    "SERVBEHIND": (CA_K_WARNING, 39, "Server (IOC) has fallen behind or is not responding- still "
                                     "waiting"),
    "NOCAST": (CA_K_WARNING, 40, "No internet interface with broadcast available"),
    "BADMASK": (CA_K_ERROR, 41, "Invalid event selection mask"),
    "IODONE": (CA_K_INFO, 42, "IO operations have completed"),
    "IOINPROGRESS": (CA_K_INFO, 43, "IO operations are in progress"),
    "BADSYNCGRP": (CA_K_ERROR, 44, "Invalid synchronous group identifier"),
    "PUTCBINPROG": (CA_K_ERROR, 45, "Put callback timed out"),
    "NORDACCESS": (CA_K_WARNING, 46, "Read access denied"),
    "NOWTACCESS": (CA_K_WARNING, 47, "Write access denied"),
    "ANACHRONISM": (CA_K_ERROR, 48, "Requested feature is no longer supported"),
    "NOSEARCHADDR": (CA_K_WARNING, 49, "Empty PV search address list"),
    "NOCONVERT": (CA_K_WARNING, 50, "No reasonable data conversion between client and server "
                                    "types"),
    "BADCHID": (CA_K_ERROR, 51, "Invalid channel identifier"),
    "BADFUNCPTR": (CA_K_ERROR, 52, "Invalid function pointer"),
    "ISATTACHED": (CA_K_WARNING, 53, "Thread is already attached to a client context"),
    "UNAVAILINSERV": (CA_K_WARNING, 54, "Not supported by attached service"),
    "CHANDESTROY": (CA_K_WARNING, 55, "User destroyed channel"),
    "BADPRIORITY": (CA_K_ERROR, 56, "Invalid channel priority"),
    "NOTTHREADED": (CA_K_ERROR, 57, "Preemptive callback not enabled - additional threads may not "
                                    "join context"),
    "16KARRAYCLIENT": (CA_K_WARNING, 58, "Client's protocol revision does not support transfers "
                                         "exceeding 16k bytes"),
    "CONNSEQTMO": (CA_K_WARNING, 59, "Virtual circuit connection sequence aborted"),
    "UNRESPTMO": (CA_K_WARNING, 60, "Virtual circuit unresponsive"),
}


class _StatusCodes:
    """``ECA.NORMAL``, ``ECA.TIMEOUT``...: the CA status codes by name (without the prefix)."""

    def __init__(self) -> None:
        for name, (severity, number, _) in _TABLE.items():
            setattr(self, name if name[0].isalpha() else "_" + name, _defmsg(severity, number))


#: The CA status codes: ``ECA.NORMAL == 1``, ``ECA.TIMEOUT == 80``...
ECA = _StatusCodes()
_BY_CODE: Dict[int, Tuple[str, str]] = {
    _defmsg(sev, num): ("ECA_" + name, msg) for name, (sev, num, msg) in _TABLE.items()}


def status_name(status: int) -> str:
    """'ECA_TIMEOUT' for 80; 'status N' for a code libca never returns."""
    return _BY_CODE.get(status, (f"status {status}", ""))[0]


def status_message(status: int) -> str:
    """libca's text for a status code (the same text ``ca_message`` returns)."""
    return _BY_CODE.get(status, ("", f"unknown CA status {status}"))[1]


class ChannelAccessException(Exception):
    """Root of every error this library raises (PyEpics's name).

    Attributes ``pvname``, ``status`` (CA status code, or None) and ``function`` (the CA call)
    say what failed; the message names the PV.
    """

    def __init__(self, message: str = "", pvname: Optional[str] = None,
                 status: Optional[int] = None, function: Optional[str] = None) -> None:
        super().__init__(message)
        self.pvname = pvname
        self.status = status
        self.function = function


class CASeverityException(ChannelAccessException):
    """A CA call returned a status other than the one expected (PyEpics's name)."""

    def __init__(self, fcn: str = "", msg: str = "", pvname: Optional[str] = None,
                 status: Optional[int] = None) -> None:
        text = f"{fcn} returned '{msg}'" if fcn else msg
        if pvname:
            text += f" for PV {pvname!r}"
        super().__init__(text, pvname=pvname, status=status, function=fcn)
        self.fcn = fcn
        self.msg = msg


class ChannelAccessGetFailure(ChannelAccessException):
    """A read completed with a failure status from the server (PyEpics's name)."""

    def __init__(self, message: str = "", chid: object = None, status: Optional[int] = None,
                 pvname: Optional[str] = None) -> None:
        super().__init__(message, pvname=pvname, status=status, function="get")
        self.chid = chid


class CATimeoutError(ChannelAccessException, TimeoutError):
    """A connection, read or write did not complete within its timeout."""


class CANotConnectedError(ChannelAccessException, ConnectionError):
    """The channel is not connected (never was, its server went away, or it was cleared)."""


class CAAccessDenied(ChannelAccessException, PermissionError):
    """The server's access security refuses this read or write."""


class CAValueError(ChannelAccessException, ValueError):
    """A value cannot be written to this channel (wrong type, out of range, too long...)."""


class CATypeError(ChannelAccessException, TypeError):
    """A value of a type that cannot be written at all (None, an object...)."""


class CAFinalizedError(ChannelAccessException, RuntimeError):
    """Channel Access has been shut down in this process (after ``finalize_libca``)."""


class CADeadlockError(ChannelAccessException, RuntimeError):
    """A blocking call was made where it would wait for itself (inside libca's callback thread)."""


_CLASS_FOR_STATUS = {
    "TIMEOUT": CATimeoutError, "PUTCBINPROG": CATimeoutError,
    "DISCONN": CANotConnectedError, "DISCONNCHID": CANotConnectedError,
    "UNRESPTMO": CANotConnectedError, "CONNSEQTMO": CANotConnectedError,
    "CHANDESTROY": CANotConnectedError,
    "NORDACCESS": CAAccessDenied, "NOWTACCESS": CAAccessDenied,
    "BADTYPE": CAValueError, "BADCOUNT": CAValueError, "STRTOBIG": CAValueError,
    "NOCONVERT": CAValueError, "BADSTR": CAValueError, "EMPTYSTR": CAValueError,
    "TOLARGE": CAValueError,
}


def error_for_status(status: int, function: str, pvname: Optional[str] = None) -> CASeverityException:
    """The exception for a CA status code: a :class:`CASeverityException` that also is the
    matching specific class (``CATimeoutError`` for ECA_TIMEOUT, ``CAAccessDenied`` for
    ECA_NOWTACCESS...), carrying the CA message, the function and the PV name."""
    name = status_name(status)[4:] if status in _BY_CODE else ""
    specific = _CLASS_FOR_STATUS.get(name)
    cls = _specific_severity_class(specific) if specific else CASeverityException
    return cls(function, status_message(status), pvname=pvname, status=status)


_severity_classes: Dict[type, type] = {}


def _specific_severity_class(specific: type) -> type:
    """A class that is both CASeverityException and ``specific`` (made once per class)."""
    cls = _severity_classes.get(specific)
    if cls is None:
        cls = type(specific.__name__, (CASeverityException, specific),
                   {"__module__": __name__, "__doc__": specific.__doc__})
        _severity_classes[specific] = cls
    return cls
