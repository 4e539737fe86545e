"""Writing with epics.ca: put to every native type, put with completion (wait=True, callbacks,
timeouts) on the slow record. Every test puts the records it writes back to their values."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from epics import ca, dbr
from epics._errors import ECA
from test_ca_helpers import DEADLINE, Recorder, connected_channel, restored

#: Distinct values for the slow record, so that each completion is seen as a change of slow:done.
_slow_values = itertools.count(101)


def put_and_get(ioc, record, value, **get_kwargs):
    """Put ``value`` (waiting for completion), then read the record back."""
    chid = connected_channel(ioc.pv(record))
    assert ca.put(chid, value, wait=True, timeout=DEADLINE) == ECA.NORMAL
    return ca.get(chid, timeout=DEADLINE, **get_kwargs)


@pytest.fixture
def slow(ioc):
    """Channels of the slow record and of slow:done, which gets slow's value only once the put
    has completed (0.5 s after it was written)."""
    with restored(ioc.pv("slow")):
        yield connected_channel(ioc.pv("slow")), connected_channel(ioc.pv("slow:done"))


def wait_done_equals(done_chid, value):
    """Wait (bounded) for slow:done to receive ``value``, e.g. after a put that timed out."""
    rec = Recorder()
    subscription = ca.create_subscription(done_chid, callback=rec)
    try:
        assert rec.wait_value(value), f"slow:done never became {value}"
    finally:
        ca.clear_subscription(subscription)


# ---- every native type -----------------------------------------------------------------------

def test_put_returns_eca_normal(ioc):
    with restored(ioc.pv("ao")):
        assert ca.put(connected_channel(ioc.pv("ao")), 2.0) == ECA.NORMAL


def test_put_without_wait_is_seen_by_the_next_get(ioc):
    chid = connected_channel(ioc.pv("ao"))
    with restored(ioc.pv("ao")):
        ca.put(chid, 3.75)
        assert ca.get(chid, timeout=DEADLINE) == 3.75   # same circuit: requests stay in order


def test_put_double(ioc):
    with restored(ioc.pv("ao")):
        assert put_and_get(ioc, "ao", 12.25) == 12.25


def test_put_beyond_the_drive_limit_is_clipped_by_the_record(ioc):
    with restored(ioc.pv("ao")):
        assert put_and_get(ioc, "ao", 95.0) == 90.0


def test_put_numeric_text_to_a_double_is_parsed(ioc):
    with restored(ioc.pv("ao")):
        assert put_and_get(ioc, "ao", "-3.5") == -3.5


def test_put_numpy_scalar_to_a_double(ioc):
    with restored(ioc.pv("ao")):
        assert put_and_get(ioc, "ao", np.float32(0.25)) == 0.25


def test_put_long(ioc):
    with restored(ioc.pv("longout")):
        assert put_and_get(ioc, "longout", -17) == -17


def test_put_float_to_a_long_truncates_toward_zero(ioc):
    with restored(ioc.pv("longout")):
        assert put_and_get(ioc, "longout", 7.9) == 7


def test_put_long_is_followed_by_a_cp_link(ioc):
    with restored(ioc.pv("longout")):
        put_and_get(ioc, "longout", 123)
        rec = Recorder()
        subscription = ca.create_subscription(connected_channel(ioc.pv("longin")), callback=rec)
        try:
            assert rec.wait_value(123)
        finally:
            ca.clear_subscription(subscription)


def test_put_enum_by_index(ioc):
    with restored(ioc.pv("mbbo")):
        assert put_and_get(ioc, "mbbo", 2, as_string=True) == "Standby"


@pytest.mark.parametrize("record, name, index", [("mbbo", "Fault", 3), ("mbbo", "On", 1),
                                                 ("bo", "On", 1)])
def test_put_enum_by_state_name(ioc, record, name, index):
    with restored(ioc.pv(record)):
        assert put_and_get(ioc, record, name) == index


def test_put_string(ioc):
    with restored(ioc.pv("stringout")):
        assert put_and_get(ioc, "stringout", "world") == "world"


def test_put_string_of_39_bytes_fits(ioc):
    text = "x" * 39
    with restored(ioc.pv("stringout")):
        assert put_and_get(ioc, "stringout", text) == text


def test_put_bytes_to_a_string(ioc):
    with restored(ioc.pv("stringout")):
        assert put_and_get(ioc, "stringout", b"raw bytes") == "raw bytes"


def test_put_number_to_a_string_sends_its_text(ioc):
    with restored(ioc.pv("stringout")):
        assert put_and_get(ioc, "stringout", 2.5) == "2.5"


@pytest.mark.parametrize("record, value, dtype", [
    ("wf:double", [0.5, -1.25, 1e10], np.float64),
    ("wf:float", [0.5, -1.25, 3.0], np.float32),
    ("wf:long", [100000, -7, 0, 2 ** 31 - 1], np.int32),
    ("wf:short", [-32768, 32767, 5], np.int16),
])
def test_put_list_to_a_numeric_waveform(ioc, record, value, dtype):
    with restored(ioc.pv(record)):
        result = put_and_get(ioc, record, value)
    assert result.dtype == dtype and result.tolist() == value


def test_put_numpy_array_to_a_waveform(ioc):
    data = np.linspace(0, 1, 50)
    with restored(ioc.pv("wf:double")):
        np.testing.assert_array_equal(put_and_get(ioc, "wf:double", data), data)


def test_put_numpy_array_of_another_dtype_is_converted(ioc):
    with restored(ioc.pv("wf:short")):
        assert put_and_get(ioc, "wf:short", np.arange(4, dtype=np.float64)).tolist() == [0, 1, 2, 3]


def test_put_fills_the_whole_waveform(ioc):
    data = list(range(128))
    with restored(ioc.pv("wf:long")):
        assert put_and_get(ioc, "wf:long", data).tolist() == data


def test_put_scalar_to_a_waveform_writes_one_element(ioc):
    with restored(ioc.pv("wf:double")):
        assert put_and_get(ioc, "wf:double", 7.0) == 7.0


def test_put_text_to_a_char_waveform(ioc):
    with restored(ioc.pv("wf:char")):
        assert put_and_get(ioc, "wf:char", "abc", as_string=True) == "abc"


def test_put_text_longer_than_40_characters_to_a_char_waveform(ioc):
    text = "A string of more than forty characters: " + "0123456789" * 10
    with restored(ioc.pv("wf:char256")):
        assert put_and_get(ioc, "wf:char256", text, as_string=True) == text


def test_put_bytes_to_a_char_waveform(ioc):
    with restored(ioc.pv("wf:char")):
        assert put_and_get(ioc, "wf:char", b"\x01\x02\xff").tolist() == [1, 2, 255]


def test_put_list_of_strings_to_a_string_waveform(ioc):
    with restored(ioc.pv("wf:string")):
        assert put_and_get(ioc, "wf:string", ["one", "two"]) == ["one", "two"]


def test_put_with_ftype_string_lets_the_server_convert(ioc):
    chid = connected_channel(ioc.pv("ao"))
    with restored(ioc.pv("ao")):
        ca.put(chid, "7.5", ftype=dbr.STRING, wait=True, timeout=DEADLINE)
        assert ca.get(chid, timeout=DEADLINE) == 7.5


# ---- completion ------------------------------------------------------------------------------

def test_put_with_wait_returns_after_the_processing_completed(slow):
    slow_chid, done_chid = slow
    value = float(next(_slow_values))
    assert ca.get(done_chid) != value
    assert ca.put(slow_chid, value, wait=True, timeout=DEADLINE) == ECA.NORMAL
    assert ca.get(done_chid) == value      # slow:done is written at the end of the processing


def test_put_with_wait_and_a_short_timeout_returns_minus_one(slow):
    slow_chid, done_chid = slow
    value = float(next(_slow_values))
    assert ca.put(slow_chid, value, wait=True, timeout=0.05) == -1
    wait_done_equals(done_chid, value)       # the put itself still completes


def test_put_callback_runs_after_the_processing_completed(slow):
    slow_chid, done_chid = slow
    value = float(next(_slow_values))
    done_when_called = []
    rec = Recorder(action=lambda **kwargs: done_when_called.append(ca.get(done_chid)))
    ca.put(slow_chid, value, callback=rec, callback_data="my data")
    assert rec.wait_count(1)
    assert rec.kwargs == [{"pvname": ca.name(slow_chid), "data": "my data"}]
    assert done_when_called == [value]


def test_put_callback_with_dict_data_gets_it_as_keywords(slow):
    slow_chid, _ = slow
    rec = Recorder()
    ca.put(slow_chid, float(next(_slow_values)), callback=rec,
           callback_data={"step": 3, "label": "move"})
    assert rec.wait_count(1)
    assert rec.kwargs == [{"pvname": ca.name(slow_chid), "step": 3, "label": "move"}]


def test_put_callback_without_data_gets_data_none(ioc):
    rec = Recorder()
    with restored(ioc.pv("ao")):
        ca.put(connected_channel(ioc.pv("ao")), 4.0, callback=rec)
        assert rec.wait_count(1)
    assert rec.kwargs == [{"pvname": ioc.pv("ao"), "data": None}]


def test_put_with_wait_and_callback_returns_after_the_callback_was_queued(slow):
    slow_chid, done_chid = slow
    value = float(next(_slow_values))
    rec = Recorder()
    assert ca.put(slow_chid, value, wait=True, callback=rec, timeout=DEADLINE) == ECA.NORMAL
    assert ca.get(done_chid) == value
    assert rec.wait_count(1)


def test_put_callbacks_of_successive_puts_run_in_order(slow):
    slow_chid, _ = slow
    rec = Recorder()
    for index in range(3):
        ca.put(slow_chid, float(next(_slow_values)), callback=rec, callback_data=index)
    assert rec.wait_count(3, timeout=DEADLINE * 2)
    assert [kwargs["data"] for kwargs in rec.kwargs] == [0, 1, 2]


# ---- a write the server refuses when it completes ------------------------------------------------

def test_put_with_wait_the_server_refuses_returns_1_and_logs_as_pyepics(ioc, caplog):
    """A state name the mbbo does not have goes to the server as DBR_STRING and the server's
    conversion fails: PyEpics ignores the completion status and returns 1; epicsca logs it."""
    chid = connected_channel(ioc.pv("mbbo"))
    with restored(ioc.pv("mbbo")):
        before = ca.get(chid, timeout=DEADLINE)
        assert ca.put(chid, "NoSuchState", wait=True, timeout=DEADLINE) == 1
        assert "completed with failure" in caplog.text and ioc.pv("mbbo") in caplog.text
        assert ca.get(chid, timeout=DEADLINE) == before


def test_put_with_wait_the_server_refuses_raises_with_raise_on_error(ioc):
    chid = connected_channel(ioc.pv("mbbo"))
    with restored(ioc.pv("mbbo")):
        with pytest.raises(ca.CASeverityException) as info:
            ca.put(chid, "NoSuchState", wait=True, timeout=DEADLINE, raise_on_error=True)
        assert info.value.status != ECA.NORMAL
