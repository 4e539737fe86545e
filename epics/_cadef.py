"""The C boundary: every libca function this library calls, declared once.

One block per function: its C prototype (from ``cadef.h``), then ``argtypes``, ``restype`` and
``errcheck``. Handles (``chid``, ``evid``, context pointers) are ``c_void_p``, exact on every 64-bit
platform. Functions whose status must be ECA_NORMAL get :func:`_check_status`, which turns any other
status into the matching exception with the function's name and, where a channel is involved, the
PV name; functions whose status is information (``ca_pend_io``'s ECA_TIMEOUT, ``ca_test_io``'s
ECA_IODONE) return it as is.

The structs libca passes *by value* to callbacks and the C types of those callbacks live here too,
since they are part of the same header.
"""
from __future__ import annotations

import ctypes
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_int, c_long, c_short,
                    c_uint, c_ulong, c_void_p)
from typing import Callable, List, Optional, Sequence, Tuple

from . import _libca
from ._errors import ECA, error_for_status

__all__ = ["load", "ca_access_rights", "connection_handler_args", "access_rights_handler_args",
           "event_handler_args", "exception_handler_args", "ConnectionCallback",
           "AccessRightsCallback", "EventCallback", "ExceptionCallback", "PrintfCallback",
           "PREEMPTIVE", "NON_PREEMPTIVE"]

# enum ca_preemptive_callback_select
NON_PREEMPTIVE, PREEMPTIVE = 0, 1


# struct connection_handler_args { chanId chid; long op; };
class connection_handler_args(Structure):
    _fields_ = [("chid", c_void_p), ("op", c_long)]


# struct ca_access_rights { unsigned read_access:1; unsigned write_access:1; };
class ca_access_rights(Structure):
    _fields_ = [("read_access", c_uint, 1), ("write_access", c_uint, 1)]


# struct access_rights_handler_args { chanId chid; caar ar; };
class access_rights_handler_args(Structure):
    _fields_ = [("chid", c_void_p), ("ar", ca_access_rights)]

    @property
    def access(self) -> int:
        """The rights as PyEpics's ``access`` byte: bit 0 read, bit 1 write."""
        return self.ar.read_access | (self.ar.write_access << 1)


# struct event_handler_args { void *usr; chanId chid; long type; long count; const void *dbr;
#                             int status; };
class event_handler_args(Structure):
    _fields_ = [("usr", c_void_p), ("chid", c_void_p), ("type", c_long), ("count", c_long),
                ("dbr", c_void_p), ("status", c_int)]


# struct exception_handler_args { void *usr; chanId chid; long type; long count; void *addr;
#     long stat; long op; const char *ctx; const char *pFile; unsigned lineNo; };
class exception_handler_args(Structure):
    _fields_ = [("usr", c_void_p), ("chid", c_void_p), ("type", c_long), ("count", c_long),
                ("addr", c_void_p), ("stat", c_long), ("op", c_long), ("ctx", c_char_p),
                ("pFile", c_char_p), ("lineNo", c_uint)]


# typedef void caCh (struct connection_handler_args args);
ConnectionCallback = CFUNCTYPE(None, connection_handler_args)
# typedef void caArh (struct access_rights_handler_args args);
AccessRightsCallback = CFUNCTYPE(None, access_rights_handler_args)
# typedef void caEventCallBackFunc (struct event_handler_args);
EventCallback = CFUNCTYPE(None, event_handler_args)
# typedef void caExceptionHandler (struct exception_handler_args);
ExceptionCallback = CFUNCTYPE(None, exception_handler_args)
# typedef int caPrintfFunc (const char *pformat, va_list args);
PrintfCallback = CFUNCTYPE(c_int, c_char_p, c_void_p)


def _check_status(status: int, func, args: tuple) -> int:
    """errcheck: ECA_NORMAL passes through; anything else raises, naming the PV if known."""
    if status == ECA.NORMAL:
        return status
    raise error_for_status(status, func.__name__, _pvname_from_args(func.__name__, args))


def _pvname_from_args(function: str, args: tuple) -> Optional[str]:
    """The PV name behind the chid argument of a failed call, for the error message."""
    position = _CHID_POSITION.get(function)
    if position is None or _lib is None:
        return None
    if function == "ca_create_channel":
        raw = args[0]
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    chid = args[position]
    if not chid:
        return None
    try:
        return _lib.ca_name(chid).decode("utf-8", "replace")
    except Exception:  # the chid itself is bad: the status already says so
        return None


# Which argument holds the channel, for functions whose errors should name the PV.
_CHID_POSITION = {"ca_create_channel": 0, "ca_clear_channel": 0, "ca_array_put": 2,
                  "ca_array_put_callback": 2, "ca_array_get": 2, "ca_array_get_callback": 2,
                  "ca_create_subscription": 2, "ca_replace_access_rights_event": 0,
                  "ca_sg_array_get": 3, "ca_sg_array_put": 3}

_STATUS = c_int
Prototype = Tuple[str, Optional[type], Sequence[type], Optional[Callable]]

# (name, restype, argtypes, errcheck): the whole of libca that this library uses.
PROTOTYPES: List[Prototype] = [
    # --- contexts -----------------------------------------------------------------------------
    # int ca_context_create(enum ca_preemptive_callback_select select);
    ("ca_context_create", _STATUS, [c_int], _check_status),
    # void ca_context_destroy(void);
    ("ca_context_destroy", None, [], None),
    # struct ca_client_context *ca_current_context(void);
    ("ca_current_context", c_void_p, [], None),
    # int ca_attach_context(struct ca_client_context *context);  ECA_ISATTACHED is information
    ("ca_attach_context", _STATUS, [c_void_p], None),
    # void ca_detach_context(void);
    ("ca_detach_context", None, [], None),
    # int ca_preemtive_callback_is_enabled(void);  (sic)
    ("ca_preemtive_callback_is_enabled", c_int, [], None),
    # int ca_client_status(unsigned level);
    ("ca_client_status", _STATUS, [c_uint], None),
    # int ca_context_status(struct ca_client_context *context, unsigned level);
    ("ca_context_status", _STATUS, [c_void_p, c_uint], None),
    # --- polling and flushing -----------------------------------------------------------------
    # int ca_pend_event(ca_real timeout);  returns ECA_TIMEOUT normally
    ("ca_pend_event", _STATUS, [c_double], None),
    # int ca_pend_io(ca_real timeout);  ECA_TIMEOUT when IO is still outstanding
    ("ca_pend_io", _STATUS, [c_double], None),
    # int ca_test_io(void);  ECA_IODONE or ECA_IOINPROGRESS
    ("ca_test_io", _STATUS, [], None),
    # int ca_flush_io(void);
    ("ca_flush_io", _STATUS, [], _check_status),
    # --- messages -----------------------------------------------------------------------------
    # const char *ca_message(long ca_status);
    ("ca_message", c_char_p, [c_long], None),
    # const char *ca_version(void);
    ("ca_version", c_char_p, [], None),
    # int ca_replace_printf_handler(caPrintfFunc *ca_printf_func);
    ("ca_replace_printf_handler", _STATUS, [PrintfCallback], _check_status),
    # int ca_add_exception_event(caExceptionHandler *pfunc, void *pArg);
    ("ca_add_exception_event", _STATUS, [ExceptionCallback, c_void_p], _check_status),
    # --- channels -----------------------------------------------------------------------------
    # int ca_create_channel(const char *pChanName, caCh *pConnStateCallback, void *pUserPrivate,
    #                       capri priority, chid *pChanID);
    ("ca_create_channel", _STATUS, [c_char_p, ConnectionCallback, c_void_p, c_uint,
                                    POINTER(c_void_p)], _check_status),
    # int ca_clear_channel(chid chanId);
    ("ca_clear_channel", _STATUS, [c_void_p], _check_status),
    # int ca_replace_access_rights_event(chid chan, caArh *pfunc);
    ("ca_replace_access_rights_event", _STATUS, [c_void_p, AccessRightsCallback], _check_status),
    # short ca_field_type(chid chan);  TYPENOTCONN (-1) when not connected
    ("ca_field_type", c_short, [c_void_p], None),
    # unsigned long ca_element_count(chid chan);  0 when not connected
    ("ca_element_count", c_ulong, [c_void_p], None),
    # const char *ca_name(chid chan);
    ("ca_name", c_char_p, [c_void_p], None),
    # const char *ca_host_name(chid channel);
    ("ca_host_name", c_char_p, [c_void_p], None),
    # unsigned ca_read_access(chid chan);
    ("ca_read_access", c_uint, [c_void_p], None),
    # unsigned ca_write_access(chid chan);
    ("ca_write_access", c_uint, [c_void_p], None),
    # enum channel_state ca_state(chid chan);
    ("ca_state", c_int, [c_void_p], None),
    # void ca_set_puser(chid chan, void *puser);
    ("ca_set_puser", None, [c_void_p, c_void_p], None),
    # void *ca_puser(chid chan);
    ("ca_puser", c_void_p, [c_void_p], None),
    # unsigned ca_host_minor_protocol(chid pChan);
    ("ca_host_minor_protocol", c_uint, [c_void_p], None),
    # unsigned ca_search_attempts(chid chan);
    ("ca_search_attempts", c_uint, [c_void_p], None),
    # double ca_beacon_period(chid chan);
    ("ca_beacon_period", c_double, [c_void_p], None),
    # double ca_receive_watchdog_delay(chid chan);
    ("ca_receive_watchdog_delay", c_double, [c_void_p], None),
    # unsigned ca_get_ioc_connection_count(void);
    ("ca_get_ioc_connection_count", c_uint, [], None),
    # --- reading and writing ------------------------------------------------------------------
    # int ca_array_get(chtype type, unsigned long count, chid chanId, void *pValue);
    ("ca_array_get", _STATUS, [c_long, c_ulong, c_void_p, c_void_p], _check_status),
    # int ca_array_get_callback(chtype type, unsigned long count, chid chanId,
    #                           caEventCallBackFunc *pFunc, void *pArg);
    ("ca_array_get_callback", _STATUS, [c_long, c_ulong, c_void_p, EventCallback, c_void_p],
     _check_status),
    # int ca_array_put(chtype type, unsigned long count, chid chanId, const void *pValue);
    ("ca_array_put", _STATUS, [c_long, c_ulong, c_void_p, c_void_p], _check_status),
    # int ca_array_put_callback(chtype type, unsigned long count, chid chanId,
    #                           const void *pValue, caEventCallBackFunc *pFunc, void *pArg);
    ("ca_array_put_callback", _STATUS, [c_long, c_ulong, c_void_p, c_void_p, EventCallback,
                                        c_void_p], _check_status),
    # --- subscriptions ------------------------------------------------------------------------
    # int ca_create_subscription(chtype type, unsigned long count, chid chanId, long mask,
    #                            caEventCallBackFunc *pFunc, void *pArg, evid *pEventID);
    ("ca_create_subscription", _STATUS, [c_long, c_ulong, c_void_p, c_long, EventCallback,
                                         c_void_p, POINTER(c_void_p)], _check_status),
    # int ca_clear_subscription(evid eventID);
    ("ca_clear_subscription", _STATUS, [c_void_p], _check_status),
    # chid ca_evid_to_chid(evid id);
    ("ca_evid_to_chid", c_void_p, [c_void_p], None),
    # --- synchronous groups -------------------------------------------------------------------
    # int ca_sg_create(CA_SYNC_GID *pgid);
    ("ca_sg_create", _STATUS, [POINTER(c_uint)], _check_status),
    # int ca_sg_delete(const CA_SYNC_GID gid);
    ("ca_sg_delete", _STATUS, [c_uint], _check_status),
    # int ca_sg_block(const CA_SYNC_GID gid, ca_real timeout);  ECA_TIMEOUT is information
    ("ca_sg_block", _STATUS, [c_uint, c_double], None),
    # int ca_sg_test(const CA_SYNC_GID gid);  ECA_IODONE or ECA_IOINPROGRESS
    ("ca_sg_test", _STATUS, [c_uint], None),
    # int ca_sg_reset(const CA_SYNC_GID gid);
    ("ca_sg_reset", _STATUS, [c_uint], _check_status),
    # int ca_sg_array_get(const CA_SYNC_GID gid, chtype type, unsigned long count, chid chan,
    #                     void *pValue);
    ("ca_sg_array_get", _STATUS, [c_uint, c_long, c_ulong, c_void_p, c_void_p], _check_status),
    # int ca_sg_array_put(const CA_SYNC_GID gid, chtype type, unsigned long count, chid chan,
    #                     const void *pValue);
    ("ca_sg_array_put", _STATUS, [c_uint, c_long, c_ulong, c_void_p, c_void_p], _check_status),
    # int ca_sg_stat(CA_SYNC_GID gid);
    ("ca_sg_stat", _STATUS, [c_uint], None),
    # --- the repeater -------------------------------------------------------------------------
    # void caRepeaterThread(void *pDummy);  serves the CA repeater port forever
    ("caRepeaterThread", None, [c_void_p], None),
]

# Functions that only read a field of libca's channel or context objects and return at once.
# ctypes releases the GIL around every foreign call, and getting it back while another thread runs
# Python can cost up to the interpreter's switch interval (5 ms): for these, that is all cost and
# no gain, so they are called through a PyDLL handle, which keeps the GIL. This is safe because
# libca never calls back into Python while holding the lock these functions take (it releases
# its primary mutex around user callbacks). Anything that can block (I/O, flow control, waiting
# for callbacks to finish, as ca_clear_channel does) is NOT in this set.
QUICK = frozenset({
    "ca_field_type", "ca_element_count", "ca_name", "ca_host_name", "ca_read_access",
    "ca_write_access", "ca_state", "ca_puser", "ca_current_context", "ca_message", "ca_version",
    "ca_preemtive_callback_is_enabled", "ca_evid_to_chid", "ca_host_minor_protocol",
    "ca_search_attempts", "ca_beacon_period", "ca_receive_watchdog_delay",
})

# The event buffer (epics/_evbuf.c): libca's threads append subscription updates, connection and
# access changes and get answers to it without taking the GIL; the library's threads take them
# in batches (see _dispatch). Optional: when it is not built, Python callbacks (one per event) do
# the same.
EVBUF_PROTOTYPES: List[Prototype] = [
    # int evbuf_init(const unsigned short *dbr_size, const unsigned short *dbr_value_size);
    ("evbuf_init", c_int, [c_void_p, c_void_p], None),
    # given to libca, never called from Python: evbuf_event_callback and evbuf_get_callback
    # (struct event_handler_args), evbuf_connection_callback, evbuf_access_callback
    # char *evbuf_take(int queue, char *spare, size_t spare_capacity, size_t *length,
    #                  size_t *capacity);  queue 0: monitor updates, 1: control records
    ("evbuf_take", c_void_p, [c_int, c_void_p, ctypes.c_size_t, POINTER(ctypes.c_size_t),
                              POINTER(ctypes.c_size_t)], None),
    # int evbuf_wait(double timeout, int control_only);  blocks: called with the GIL released
    ("evbuf_wait", c_int, [c_double, c_int], None),
    # void evbuf_consumer_waits(int waits);
    ("evbuf_consumer_waits", None, [c_int], None),
    # void evbuf_wake(void);
    ("evbuf_wake", None, [], None),
    # void evbuf_stop(void);
    ("evbuf_stop", None, [], None),
    # void evbuf_after_fork(void);
    ("evbuf_after_fork", None, [], None),
    # void evbuf_free(char *buffer);
    ("evbuf_free", None, [c_void_p], None),
    # void evbuf_stats(uint64_t *events, uint64_t *peak_bytes, uint64_t *lost,
    #                  uint64_t *held_back);
    ("evbuf_stats", None, [POINTER(ctypes.c_uint64)] * 4, None),
    # void evbuf_set_high_water(size_t bytes);
    ("evbuf_set_high_water", None, [ctypes.c_size_t], None),
]

_lib: Optional[ctypes.CDLL] = None
_evbuf: Optional[ctypes.CDLL] = None
_evbuf_tried = False


def _apply(library: ctypes.CDLL, prototypes: Sequence[Prototype],
           quick: Optional[ctypes.PyDLL] = None) -> None:
    for name, restype, argtypes, errcheck in prototypes:
        function = getattr(quick if quick is not None and name in QUICK else library, name)
        function.restype = restype
        function.argtypes = list(argtypes)
        if errcheck is not None:
            function.errcheck = errcheck
        if quick is not None and name in QUICK:
            setattr(library, name, function)   # lib.ca_field_type is now the GIL-keeping one


def load_evbuf() -> Optional[ctypes.CDLL]:
    """Load the monitor-event buffer and connect it to libca's DBR size tables.

    Returns None when the helper was not built (no C compiler at install time); monitors then
    use a Python callback per event.
    """
    global _evbuf, _evbuf_tried
    if _evbuf_tried:
        return _evbuf
    lib = load()
    path = _libca.find_evbuf()
    _evbuf_tried = True
    if path is None:
        return None
    try:
        evbuf = ctypes.CDLL(path)
        _apply(evbuf, EVBUF_PROTOTYPES, quick=ctypes.PyDLL(path))
    except (OSError, AttributeError):   # AttributeError: a build of an older _evbuf.c
        return None
    init_evbuf(evbuf)
    _evbuf = evbuf
    return evbuf


def init_evbuf(evbuf: ctypes.CDLL) -> None:
    """Connect the event buffer to libca's DBR size tables and let it take events: at load, and
    again when CA starts after a finalize (which stopped it)."""
    lib = load()
    sizes = (ctypes.c_ushort * 39).in_dll(lib, "dbr_size")
    value_sizes = (ctypes.c_ushort * 39).in_dll(lib, "dbr_value_size")
    evbuf.evbuf_init(ctypes.addressof(sizes), ctypes.addressof(value_sizes))


def load() -> ctypes.CDLL:
    """Load libca (see ``_libca``) and apply every prototype of :data:`PROTOTYPES` to it.

    Returns the library; its functions are then called as ``lib.ca_create_channel(...)``.
    Idempotent and thread-safe (``_libca`` serialises the load; applying prototypes twice is
    harmless).
    """
    global _lib
    if _lib is not None:
        return _lib
    lib = _libca.load_libca()
    _apply(lib, PROTOTYPES, quick=ctypes.PyDLL(lib._name, handle=lib._handle))
    _lib = lib
    return lib


def dbr_tables(lib: ctypes.CDLL) -> Tuple[ctypes.Array, ctypes.Array]:
    """libca's own ``dbr_size[]`` and ``dbr_value_offset[]`` tables (39 entries each), so tests
    can check ``dbr``'s struct layout against the library actually loaded."""
    # const unsigned short dbr_size[]; const unsigned short dbr_value_offset[];
    return ((ctypes.c_ushort * 39).in_dll(lib, "dbr_size"),
            (ctypes.c_ushort * 39).in_dll(lib, "dbr_value_offset"))
