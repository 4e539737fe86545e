"""aioca's request codes, event masks and formats, and the fields an augmented value may carry.

Numbers only (no thread runs code here). The values are those of EPICS's ``db_access.h`` and
``caeventmask.h``, as aioca 2.1 (through ``epicscorelibs.ca``) exports them; the codes from 996 up
are aioca's own requests for a different conversion of a native type.
"""
from __future__ import annotations

from typing import Tuple, Union

from .. import dbr

__all__ = [
    "DBE_VALUE", "DBE_LOG", "DBE_ALARM", "DBE_PROPERTY",
    "DBR_STRING", "DBR_SHORT", "DBR_FLOAT", "DBR_ENUM", "DBR_CHAR", "DBR_LONG", "DBR_DOUBLE",
    "DBR_PUT_ACKT", "DBR_PUT_ACKS", "DBR_STSACK_STRING", "DBR_CLASS_NAME",
    "DBR_ENUM_STR", "DBR_CHAR_BYTES", "DBR_CHAR_UNICODE", "DBR_CHAR_STR",
    "FORMAT_RAW", "FORMAT_TIME", "FORMAT_CTRL", "ca_extra_fields", "DEFAULT_TIMEOUT", "Timeout",
]

DBE_VALUE = dbr.DBE_VALUE
DBE_LOG = dbr.DBE_LOG
DBE_ALARM = dbr.DBE_ALARM
DBE_PROPERTY = dbr.DBE_PROPERTY

DBR_STRING = dbr.STRING
DBR_SHORT = dbr.SHORT
DBR_FLOAT = dbr.FLOAT
DBR_ENUM = dbr.ENUM
DBR_CHAR = dbr.CHAR
DBR_LONG = dbr.LONG
DBR_DOUBLE = dbr.DOUBLE
DBR_PUT_ACKT = dbr.PUT_ACKT
DBR_PUT_ACKS = dbr.PUT_ACKS
DBR_STSACK_STRING = dbr.STSACK_STRING
DBR_CLASS_NAME = dbr.CLASS_NAME
#: Enums read as their state names; any other type as its native type.
DBR_ENUM_STR = 996
#: A CHAR array read as ``bytes`` (up to the first NUL).
DBR_CHAR_BYTES = 997
#: A CHAR array read as ``str`` decoded from UTF-8.
DBR_CHAR_UNICODE = 998
#: A CHAR array read (and written) as ``str``: a long string.
DBR_CHAR_STR = 999

#: The value only (and ``.name``, ``.ok``, ``.datatype``, ``.element_count``).
FORMAT_RAW = 0
#: Also ``.status``, ``.severity``, ``.timestamp``, ``.raw_stamp`` (and ``.datetime``).
FORMAT_TIME = 1
#: Also units, limits, precision or enum strings.
FORMAT_CTRL = 2

#: Every attribute an augmented value may have, as in aioca.
ca_extra_fields = [
    "name", "ok", "datatype", "element_count", "severity", "status", "raw_stamp", "timestamp",
    "datetime", "units", "upper_disp_limit", "lower_disp_limit", "upper_alarm_limit",
    "lower_alarm_limit", "upper_warning_limit", "lower_warning_limit", "upper_ctrl_limit",
    "lower_ctrl_limit", "precision", "enums",
]

#: Seconds caget, caput, connect and cainfo wait when no timeout is given (aioca's default).
DEFAULT_TIMEOUT = 5.0

#: None (wait for ever), seconds, or ``(deadline,)``: an absolute ``time.time()``.
Timeout = Union[None, float, Tuple[float]]
