"""Reading with epics.ca: get of every native type, subarrays, strings, lists, the 8 MB waveform,
metadata (TIME and CTRL), incomplete gets, and the metadata helpers. Expected values are the
initial values of tests/ioc.db (tests that write put them back)."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from epics import ca, dbr
from test_ca_helpers import DEADLINE, connected_channel, restored


def get(ioc, record, **kwargs):
    """ca.get of a record of the session IOC."""
    return ca.get(connected_channel(ioc.pv(record)), timeout=DEADLINE, **kwargs)


# ---- every native type -----------------------------------------------------------------------

def test_get_double_gives_a_float(ioc):
    value = get(ioc, "ao")
    assert value == 1.5 and type(value) is float


def test_get_long_gives_an_int(ioc):
    value = get(ioc, "longout")
    assert value == 42 and type(value) is int


@pytest.mark.parametrize("record", ["mbbo", "bo"])
def test_get_enum_gives_the_state_index(ioc, record):
    value = get(ioc, record)
    assert value == 0 and type(value) is int


def test_get_string_gives_a_str(ioc):
    assert get(ioc, "stringout") == "hello"


@pytest.mark.parametrize("record, dtype, expected", [
    ("wf:double", np.float64, [1.5, 2.5, 3.5, 4.5, 5.5]),
    ("wf:float", np.float32, [0.5, 1.5, 2.5]),
    ("wf:long", np.int32, [1, 2, 3, 4, 5]),
    ("wf:short", np.int16, [-2, -1, 0, 1, 2]),
    ("wf:char", np.uint8, list(b"hello\0")),
])
def test_get_numeric_waveform_gives_a_numpy_array_of_its_elements(ioc, record, dtype, expected):
    value = get(ioc, record)
    assert isinstance(value, np.ndarray) and value.dtype == dtype
    assert value.tolist() == expected


def test_get_string_waveform_gives_a_list_of_str(ioc):
    assert get(ioc, "wf:string") == ["alpha", "beta", "gamma"]


def test_get_with_ftype_asks_the_server_to_convert(ioc):
    # DBR_STRING of a DOUBLE with PREC 3 is formatted by the IOC
    assert get(ioc, "ao", ftype=dbr.STRING) == "1.500"


def test_get_with_ftype_double_of_a_long_gives_a_float(ioc):
    value = get(ioc, "longout", ftype=dbr.DOUBLE)
    assert value == 42.0 and type(value) is float


# ---- count, as_numpy, as_string --------------------------------------------------------------

def test_get_with_count_gives_the_first_elements(ioc):
    assert get(ioc, "wf:double", count=2).tolist() == [1.5, 2.5]


def test_get_with_count_of_a_string_waveform_gives_the_first_strings(ioc):
    assert get(ioc, "wf:string", count=2) == ["alpha", "beta"]


def test_get_with_count_one_of_a_waveform_gives_its_first_element(ioc):
    assert get(ioc, "wf:long", count=1) == 1


def test_get_with_count_beyond_the_element_count_is_clipped_to_it(ioc):
    # an explicit count is what the server sends: the elements past NORD come as zeros
    value = get(ioc, "wf:short", count=1000)
    assert len(value) == 128
    assert value[:6].tolist() == [-2, -1, 0, 1, 2, 0]


@pytest.mark.parametrize("record, ctype, expected",
                         [("wf:double", ctypes.c_double, [1.5, 2.5, 3.5, 4.5, 5.5]),
                          ("wf:long", ctypes.c_int32, [1, 2, 3, 4, 5])])
def test_get_with_as_numpy_false_gives_a_ctypes_array_as_pyepics(ioc, record, ctype, expected):
    value = get(ioc, record, as_numpy=False)
    assert isinstance(value, ctypes.Array) and value._type_ is ctype
    assert list(value) == expected


@pytest.mark.parametrize("record, expected", [("mbbo", "Off"), ("bo", "Off")])
def test_get_as_string_of_an_enum_gives_the_state_name(ioc, record, expected):
    assert get(ioc, record, as_string=True) == expected


def test_get_as_string_of_a_char_waveform_gives_the_text(ioc):
    assert get(ioc, "wf:char", as_string=True) == "hello"


def test_get_as_string_of_a_long_char_waveform_gives_all_its_text(ioc):
    assert get(ioc, "wf:char256", as_string=True) == (
        "This text is longer than forty characters, so it needs a char array.")


def test_get_as_string_of_a_number_gives_its_text(ioc):
    assert get(ioc, "longout", as_string=True) == "42"


def test_get_as_string_of_a_numeric_array_describes_the_array(ioc):
    text = get(ioc, "wf:double", as_string=True)
    assert text.startswith("<array count=") and f"type={dbr.DOUBLE}" in text


def test_get_of_the_8_mb_waveform_reads_every_element(ioc):
    chid = connected_channel(ioc.pv("wf:big"))
    size = ca.element_count(chid)
    data = np.arange(size, dtype=np.float64) * 0.5
    ca.put(chid, data, wait=True, timeout=DEADLINE * 3)
    value = ca.get(chid, timeout=DEADLINE * 3)
    assert value.dtype == np.float64
    assert len(value) == size == 1048576
    np.testing.assert_array_equal(value, data)


# ---- get_with_metadata -----------------------------------------------------------------------

def test_get_with_metadata_of_a_time_type_has_value_alarm_and_timestamp(ioc):
    info = ca.get_with_metadata(connected_channel(ioc.pv("ao")), ftype=dbr.TIME_DOUBLE)
    assert set(info) == {"value", "status", "severity", "timestamp", "posixseconds",
                         "nanoseconds"}
    assert info["value"] == 1.5
    assert info["status"] == 0 and info["severity"] == 0
    assert info["timestamp"] == pytest.approx(info["posixseconds"] + info["nanoseconds"] * 1e-9)
    assert info["posixseconds"] > 1_000_000_000  # after 2001: the EPICS epoch was converted


def test_get_with_metadata_of_a_time_string_array(ioc):
    info = ca.get_with_metadata(connected_channel(ioc.pv("wf:string")), ftype=dbr.TIME_STRING)
    assert info["value"] == ["alpha", "beta", "gamma"]
    assert {"status", "severity", "timestamp"} <= set(info)


def test_get_with_metadata_of_a_ctrl_double_has_units_precision_and_limits(ioc):
    info = ca.get_with_metadata(connected_channel(ioc.pv("ao")), ftype=dbr.CTRL_DOUBLE)
    assert info == {
        "value": 1.5, "status": 0, "severity": 0, "precision": 3, "units": "mm",
        "upper_disp_limit": 100.0, "lower_disp_limit": -100.0,
        "upper_alarm_limit": 80.0, "upper_warning_limit": 60.0,
        "lower_warning_limit": -60.0, "lower_alarm_limit": -80.0,
        "upper_ctrl_limit": 90.0, "lower_ctrl_limit": -90.0}


def test_get_with_metadata_of_a_ctrl_long_has_units_and_limits_but_no_precision(ioc):
    info = ca.get_with_metadata(connected_channel(ioc.pv("longout")), ftype=dbr.CTRL_LONG)
    assert info["value"] == 42 and info["units"] == "counts"
    assert "precision" not in info
    assert (info["lower_ctrl_limit"], info["upper_ctrl_limit"]) == (-900, 900)
    assert (info["lower_alarm_limit"], info["upper_alarm_limit"]) == (-800, 800)
    assert (info["lower_warning_limit"], info["upper_warning_limit"]) == (-600, 600)
    assert (info["lower_disp_limit"], info["upper_disp_limit"]) == (-1000, 1000)


def test_get_with_metadata_of_a_ctrl_enum_has_the_state_names(ioc):
    info = ca.get_with_metadata(connected_channel(ioc.pv("mbbo")), ftype=dbr.CTRL_ENUM)
    assert info["value"] == 0
    assert info["enum_strs"] == ("Off", "On", "Standby", "Fault", "Unknown")


def test_get_with_metadata_of_a_ctrl_array_has_the_array_and_its_units(ioc):
    info = ca.get_with_metadata(connected_channel(ioc.pv("wf:double")), ftype=dbr.CTRL_DOUBLE)
    assert info["value"].tolist() == [1.5, 2.5, 3.5, 4.5, 5.5]
    assert info["units"] == "mm" and info["precision"] == 2


def test_get_with_metadata_of_the_native_type_has_only_the_value(ioc):
    assert ca.get_with_metadata(connected_channel(ioc.pv("longout"))) == {"value": 42}


def test_get_with_metadata_as_string_of_a_ctrl_enum_gives_the_state_name(ioc):
    info = ca.get_with_metadata(connected_channel(ioc.pv("mbbo")), ftype=dbr.CTRL_ENUM,
                                as_string=True)
    assert info["value"] == "Off"


# ---- incomplete gets -------------------------------------------------------------------------

def test_get_with_wait_false_returns_none_and_get_complete_gives_the_value(ioc):
    chid = connected_channel(ioc.pv("wf:long"))
    assert ca.get(chid, wait=False) is None
    assert ca.get_complete(chid, timeout=DEADLINE).tolist() == [1, 2, 3, 4, 5]


def test_get_complete_with_count_gives_the_first_elements(ioc):
    # PyEpics: count is the "maximum element count to return", also for get_complete
    chid = connected_channel(ioc.pv("wf:long"))
    ca.get(chid, wait=False)
    assert ca.get_complete(chid, count=3, timeout=DEADLINE).tolist() == [1, 2, 3]


def test_get_complete_with_as_numpy_false_gives_a_ctypes_array_as_pyepics(ioc):
    chid = connected_channel(ioc.pv("wf:long"))
    ca.get(chid, wait=False)
    value = ca.get_complete(chid, as_numpy=False, timeout=DEADLINE)
    assert isinstance(value, ctypes.Array) and list(value) == [1, 2, 3, 4, 5]


def test_get_complete_with_metadata_after_a_get_with_wait_false(ioc):
    chid = connected_channel(ioc.pv("ao"))
    assert ca.get_with_metadata(chid, ftype=dbr.TIME_DOUBLE, wait=False) is None
    info = ca.get_complete_with_metadata(chid, ftype=dbr.TIME_DOUBLE, timeout=DEADLINE)
    assert info["value"] == 1.5 and "timestamp" in info


def test_get_complete_as_string_of_an_enum(ioc):
    chid = connected_channel(ioc.pv("bo"))
    ca.get(chid, wait=False)
    assert ca.get_complete(chid, as_string=True, timeout=DEADLINE) == "Off"


def test_get_complete_without_an_earlier_get_warns_and_returns_none(ioc):
    chid = connected_channel(ioc.pv("wf:float"))
    with pytest.warns(UserWarning, match="without an initial get"):
        assert ca.get_complete(chid, ftype=dbr.CTRL_FLOAT) is None


# ---- metadata helpers ------------------------------------------------------------------------

def test_get_ctrlvars_gives_the_ctrl_metadata_without_the_value(ioc):
    info = ca.get_ctrlvars(connected_channel(ioc.pv("ao")))
    assert "value" not in info
    assert info["units"] == "mm" and info["precision"] == 3
    assert (info["lower_ctrl_limit"], info["upper_ctrl_limit"]) == (-90.0, 90.0)


def test_get_ctrlvars_of_an_enum_has_its_state_names(ioc):
    assert ca.get_ctrlvars(connected_channel(ioc.pv("bo")))["enum_strs"] == ("Off", "On")


def test_get_timevars_gives_alarm_and_timestamp_without_the_value(ioc):
    info = ca.get_timevars(connected_channel(ioc.pv("longout")))
    assert set(info) == {"status", "severity", "timestamp", "posixseconds", "nanoseconds"}


def test_get_timestamp_is_the_time_of_the_last_processing(ioc):
    chid = connected_channel(ioc.pv("stringout"))
    stamp = ca.get_timestamp(chid)
    assert stamp > 1_000_000_000
    assert stamp == ca.get_with_metadata(chid, ftype=dbr.TIME_STRING)["timestamp"]


def test_get_severity_is_zero_without_alarm(ioc):
    assert ca.get_severity(connected_channel(ioc.pv("longout"))) == 0


@pytest.mark.parametrize("value, severity", [(70.0, 1), (85.0, 2), (-70.0, 1), (-85.0, 2)])
def test_get_severity_follows_the_alarm_limits(ioc, value, severity):
    chid = connected_channel(ioc.pv("ao"))
    with restored(ioc.pv("ao")):
        ca.put(chid, value, wait=True, timeout=DEADLINE)
        assert ca.get_severity(chid) == severity


def test_get_precision_of_a_double_is_its_prec(ioc):
    assert ca.get_precision(connected_channel(ioc.pv("ao"))) == 3


def test_get_precision_of_a_float_waveform_is_its_prec(ioc):
    assert ca.get_precision(connected_channel(ioc.pv("wf:float"))) == 3


@pytest.mark.parametrize("record", ["longout", "stringout", "mbbo"])
def test_get_precision_of_a_non_float_channel_is_none(ioc, record):
    assert ca.get_precision(connected_channel(ioc.pv(record))) is None


def test_get_enum_strings_gives_the_state_names(ioc):
    assert ca.get_enum_strings(connected_channel(ioc.pv("mbbo"))) == (
        "Off", "On", "Standby", "Fault", "Unknown")


@pytest.mark.parametrize("record", ["ao", "stringout", "wf:char"])
def test_get_enum_strings_of_a_non_enum_channel_is_none(ioc, record):
    assert ca.get_enum_strings(connected_channel(ioc.pv(record))) is None
