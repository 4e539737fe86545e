"""epics.device.Device against a real IOC (tests/devices.db): attributes, get/put, aliases,
unknown attributes, state save/restore and files, callbacks, subclassing.

Every wait is bounded (a Recorder with a deadline, or put(wait=True) with a timeout); the IOC is
stopped at the end of the module, also on failure.
"""
from __future__ import annotations

import threading

import pytest

from epics import ca, pv as pvmod
from epics._errors import CANotConnectedError
from epics.device import Device, pv_property, wait_for_condition
from epics.testing import unique_prefix
from devices_helpers import devices_ioc
from test_ca_helpers import DEADLINE, Recorder



@pytest.fixture(scope="module")
def dioc(epics_port_pool):
    """tests/devices.db served under a random prefix for this module; yields the prefix."""
    with devices_ioc(epics_port_pool, "dev") as prefix:
        yield prefix


def cached(device, attr, expected, timeout=DEADLINE):
    """Wait until the attribute's cached (monitored) value equals ``expected``: an update can
    arrive after the put that caused it has completed."""
    def holds():
        value = device.get(attr)
        if isinstance(expected, float):
            return value is not None and value == pytest.approx(expected)
        return value == expected
    return wait_for_condition([device.PV(attr)], holds, timeout)


@pytest.fixture
def dev(dioc):
    """A Device for the record dev:val, at its initial value (3.5) before and after."""
    device = Device(f"{dioc}dev:val", delim=".", attrs=("VAL", "DESC", "EGU", "PREC"))
    device.put("VAL", 3.5, wait=True, timeout=DEADLINE)
    assert cached(device, "VAL", 3.5)
    yield device
    device.put("VAL", 3.5, wait=True, timeout=DEADLINE)
    device.close()


def cached_names():
    """PV names in the get_pv cache."""
    return {key[0] for key in pvmod._PVcache_}


def channel_names():
    return {channel.pvname for channel in ca._chid_cache.values()}


# ---- attributes, get and put ---------------------------------------------------------------------

def test_attributes_read_the_pvs(dev):
    assert dev.VAL == pytest.approx(3.5)
    assert dev.DESC == "device value"
    assert dev.EGU == "mm"
    assert dev.PREC == 2


def test_get_as_string_uses_the_precision(dev):
    assert dev.get("VAL", as_string=True) == "3.50"


def test_setting_an_attribute_puts(dev):
    rec = Recorder()
    dev.add_callback("VAL", rec)
    dev.VAL = 4.25
    assert rec.wait_value(4.25)
    assert dev.get("VAL") == pytest.approx(4.25)


def test_put_with_wait_returns_1(dev):
    assert dev.put("VAL", 5.0, wait=True, timeout=DEADLINE) == 1
    assert dev.PV("VAL").get(use_monitor=False) == pytest.approx(5.0)


def test_put_wait_and_use_complete_follow_the_processing(dioc):
    slow = Device(f"{dioc}dev:slow", delim=".", attrs=("A", "VAL"))
    assert slow.put("A", 2.0, wait=True, timeout=DEADLINE) == 1
    assert slow.PV("VAL").get(use_monitor=False) == pytest.approx(2.0)
    slow.put("A", 3.0, use_complete=True)
    thispv = slow.PV("A")
    assert thispv.put_complete is False          # the calcout delays completion by 0.5 s
    assert wait_for_condition([slow.PV("VAL")], lambda: bool(thispv.put_complete), DEADLINE)
    assert cached(slow, "VAL", 3.0)


def test_put_wait_timeout_returns_minus_1(dioc):
    slow = Device(f"{dioc}dev:slow", delim=".", attrs=("A",))
    assert slow.put("A", 4.0, wait=True, timeout=0.01) == -1


def test_pv_method_returns_the_connected_pv(dev, dioc):
    thispv = dev.PV("VAL")
    assert thispv.pvname == f"{dioc}dev:val.VAL"
    assert thispv.connected
    assert dev.PV("VAL") is thispv


def test_get_and_put_of_a_field_not_listed_add_it(dev, dioc):
    assert "DRVH" not in dir(dev)
    assert dev.get("DRVH") == 0.0          # an explicit get adds the field...
    assert dev.DRVH == 0.0                 # ...so the attribute now works
    assert "DRVH" in dir(dev)


def test_empty_prefix_device_is_a_container_of_pvs(dioc):
    box = Device()
    assert box.get(f"{dioc}dev:count") == 7
    assert box.PV(f"{dioc}dev:label").get() == "hello"
    assert box.put(f"{dioc}dev:count", 8, wait=True) == 1
    assert box.PV(f"{dioc}dev:count").get(use_monitor=False) == 8
    box.put(f"{dioc}dev:count", 7, wait=True)


def test_add_pv_gives_an_attribute_name(dev, dioc):
    added = dev.add_pv(f"{dioc}dev:label", attr="label")
    assert added.pvname == f"{dioc}dev:label"
    assert dev.label == "hello"
    assert dev.get("label") == "hello"


def test_add_pv_without_attr_uses_the_pv_name(dioc):
    box = Device()
    box.add_pv(f"{dioc}dev:count")
    assert box.get(f"{dioc}dev:count") == 7


def test_aliases_read_and_write(dioc):
    device = Device(f"{dioc}dev:val", delim=".", aliases={"drive": "VAL", "units": "EGU"})
    assert device.units == "mm"
    assert cached(device, "drive", 3.5)
    rec = Recorder()
    device.add_callback("drive", rec)
    device.drive = 1.5
    assert rec.wait_value(1.5)
    assert device.get("drive") == pytest.approx(1.5)
    assert device.PV("drive") is device.PV("VAL")
    device.put("VAL", 3.5, wait=True)
    device.close()


def test_enum_attributes(dioc):
    device = Device(f"{dioc}dev:mode", delim=".", attrs=("VAL", "ZNAM", "ONAM"))
    assert cached(device, "VAL", 0)
    assert device.get("VAL", as_string=True) == "Slow"
    assert device.put("VAL", "Fast", wait=True) == 1
    assert device.PV("VAL").get(use_monitor=False, as_string=True) == "Fast"
    device.put("VAL", 0, wait=True)


# ---- unknown attributes --------------------------------------------------------------------------

def test_unknown_attribute_raises_attribute_error_naming_device_and_attribute(dev, dioc):
    before_pvs, before_channels = cached_names(), channel_names()
    with pytest.raises(AttributeError) as info:
        dev.VLA
    message = str(info.value)
    assert "VLA" in message and f"{dioc}dev:val" in message
    # no channel was opened for the typo
    assert f"{dioc}dev:val.VLA" not in cached_names() | channel_names()
    assert cached_names() - before_pvs == set()
    assert channel_names() - before_channels == set()


def test_hasattr_and_getattr_default_do_not_touch_the_network(dev, dioc):
    assert not hasattr(dev, "NOPE")
    assert getattr(dev, "_ipython_canary_method_should_not_exist_", None) is None
    assert f"{dioc}dev:val.NOPE" not in cached_names()


def test_dunder_lookups_raise_plain_attribute_error(dev):
    with pytest.raises(AttributeError):
        dev.__array_interface__


def test_immutable_device_refuses_unknown_assignment_without_network(dioc):
    device = Device(f"{dioc}dev:val", delim=".", attrs=("VAL",), mutable=False)
    with pytest.raises(AttributeError) as info:
        device.HOPR = 5
    assert "HOPR" in str(info.value)
    assert f"{dioc}dev:val.HOPR" not in cached_names()


def test_mutable_device_assignment_adds_a_real_field(dioc):
    device = Device(f"{dioc}dev:val", delim=".", attrs=("VAL",))
    device.HOPR = 50.0
    assert cached(device, "HOPR", 50.0)


def test_mutable_device_assignment_to_a_missing_field_raises_attribute_error(dioc):
    device = Device(f"{dioc}dev:val", delim=".", attrs=("VAL",), timeout=0.5)
    with pytest.raises(AttributeError) as info:
        device.NOSUCH = 1
    assert "NOSUCH" in str(info.value)
    assert "NOSUCH" not in device._pvs


def test_nonpvs_are_plain_attributes(dioc):
    device = Device(f"{dioc}dev:val", delim=".", attrs=("VAL",), nonpvs=("label",))
    device.label = "mine"
    assert device.label == "mine"
    assert "label" not in device._pvs


def test_get_and_put_of_a_pv_that_does_not_connect_give_none_as_in_pyepics(dioc):
    device = Device(f"{unique_prefix('nowhere')}rec", delim=".", attrs=("VAL",), timeout=0.3)
    assert device.get("VAL") is None
    assert device.VAL is None
    assert device.put("VAL", 1, timeout=0.3) is None


def test_put_to_a_pv_that_does_not_connect_raises_when_asked_to(dioc):
    device = Device(f"{unique_prefix('nowhere')}rec", delim=".", attrs=("VAL",), timeout=0.3)
    with pytest.raises(CANotConnectedError) as info:
        device.put("VAL", 1, timeout=0.3, raise_on_error=True)
    assert "rec.VAL" in str(info.value)


# ---- dir, repr -----------------------------------------------------------------------------------

def test_dir_lists_attributes_and_aliases(dioc):
    device = Device(f"{dioc}dev:val", delim=".", attrs=("VAL", "EGU"), aliases={"units": "EGU"})
    names = dir(device)
    for name in ("VAL", "EGU", "units", "get", "put", "save_state"):
        assert name in names


def test_repr(dioc):
    device = Device(f"{dioc}dev:val", delim=".", attrs=("VAL", "EGU"))
    assert repr(device) == f"<Device '{dioc}dev:val', 2 attributes>"


# ---- state ---------------------------------------------------------------------------------------

@pytest.fixture
def multi(dioc):
    """A prefix-only Device over several records of different types."""
    device = Device(f"{dioc}dev:", attrs=("val", "count", "mode", "label", "path", "arr"))
    for name in device._pvs:
        assert device.PV(name).wait_for_connection(DEADLINE)
    for name, value in (("val", 3.5), ("count", 7), ("mode", 0), ("label", "hello")):
        device.put(name, value, wait=True)
        assert cached(device, name, value)
    device.put("path", "/data/run1", wait=True)
    device.put("arr", [1.0, 2.0, 3.0], wait=True)
    # the cached (monitored) values must show the writes before a test reads them
    assert wait_for_condition(
        [device.PV("path"), device.PV("arr")],
        lambda: device.get("path", as_string=True) == "/data/run1"
        and list(device.get("arr")[:3]) == [1.0, 2.0, 3.0], DEADLINE)
    yield device
    device.put("val", 3.5, wait=True)
    device.put("count", 7, wait=True)
    device.put("mode", 0, wait=True)
    device.put("label", "hello", wait=True)


def test_save_state_reads_every_pv(multi):
    state = multi.save_state()
    assert set(state) == {"val", "count", "mode", "label", "path", "arr"}
    assert state["val"] == pytest.approx(3.5)
    assert state["count"] == 7
    assert state["mode"] == 0
    assert state["label"] == "hello"
    assert state["path"] == "/data/run1"      # a CHAR waveform is saved as text
    assert list(state["arr"][:3]) == [1.0, 2.0, 3.0]
    assert set(multi.get_all()) == set(state)


def test_restore_state_writes_back(multi):
    state = multi.save_state()
    multi.put("val", 9.0, wait=True)
    multi.put("label", "changed", wait=True)
    rec = Recorder()
    multi.add_callback("label", rec)
    multi.restore_state({"val": state["val"], "label": state["label"], "unknown": 1,
                         "count": None})
    assert rec.wait_value("hello")
    assert multi.PV("val").get(use_monitor=False) == pytest.approx(3.5)


def test_write_state_and_read_state_round_trip(multi, tmp_path):
    fname = tmp_path / "state.txt"
    multi.write_state(str(fname))
    lines = fname.read_text().splitlines()
    assert lines[0].startswith(f"#Device Saved State for Device,prefix='{multi._prefix}',time=")
    body = dict(line.split(" ", 1) for line in lines[1:])
    assert set(body) == {"val", "count", "mode", "label", "path"}   # arr: an array, not stored
    assert body["label"] == "hello" and body["path"] == "/data/run1"
    state = multi.read_state(str(fname))
    assert state == {"val": 3.5, "count": 7, "mode": 0, "label": "hello", "path": "/data/run1"}
    assert isinstance(state["count"], int) and isinstance(state["val"], float)


def test_read_state_with_restore(multi, tmp_path):
    fname = tmp_path / "state.txt"
    multi.write_state(str(fname), state={"val": 1.75, "count": 3, "label": "from file"})
    rec = Recorder()
    multi.add_callback("label", rec)
    state = multi.read_state(str(fname), restore=True)
    assert state == {"val": 1.75, "count": 3, "label": "from file"}
    assert rec.wait_value("from file")
    assert multi.PV("count").get(use_monitor=False) == 3


def test_read_state_ignores_comments_and_unknown_attributes(multi, tmp_path):
    fname = tmp_path / "state.txt"
    fname.write_text("# a comment\nnot_mine 5\ncount 12\n")
    assert multi.read_state(str(fname)) == {"count": 12}


# ---- callbacks -----------------------------------------------------------------------------------

def test_add_callback_gets_pv_keywords_and_extra_keywords(dev, dioc):
    rec = Recorder()
    index = dev.add_callback("VAL", rec, tag="mine")
    assert isinstance(index, int)
    dev.put("VAL", 6.5, wait=True)
    assert rec.wait_value(6.5)
    call = [kw for kw in rec.kwargs if kw["value"] == 6.5][-1]
    assert call["pvname"] == f"{dioc}dev:val.VAL"
    assert call["tag"] == "mine"
    assert call["char_value"] == "6.50"


def test_remove_callbacks_by_index_and_all(dev):
    first, second = Recorder(), Recorder()
    index = dev.add_callback("VAL", first)
    dev.add_callback("VAL", second)
    dev.remove_callbacks("VAL", index=index)
    assert index not in dev.PV("VAL").callbacks
    dev.remove_callbacks("VAL")
    assert not [entry for entry in dev.PV("VAL").callbacks.values() if entry[0] is second]
    marker = Recorder()
    dev.PV("VAL").add_callback(marker)
    dev.put("VAL", 7.5, wait=True)
    assert marker.wait_value(7.5)
    assert 7.5 not in first.values and 7.5 not in second.values


def test_close_removes_device_callbacks_and_is_idempotent(dioc):
    rec = Recorder()
    with Device(f"{dioc}dev:val", delim=".", attrs=("VAL",)) as device:
        index = device.add_callback("VAL", rec)
        thispv = device.PV("VAL")
    assert index not in thispv.callbacks
    device.close()
    assert device._pvs == {}


# ---- subclassing ---------------------------------------------------------------------------------

class Stage(Device):
    """A subclass with fields and methods, as on the slides."""

    _fields = ("VAL", "EGU", "DESC")
    _nonpvs = ("_prefix", "_pvs", "_delim", "moves")

    def __init__(self, prefix, delim="."):
        self.moves = 0
        Device.__init__(self, prefix, delim=delim, attrs=self._fields)

    def go(self, value):
        self.moves += 1
        return self.put("VAL", value, wait=True)

    units = pv_property("EGU")
    text = Device.pv_property("VAL", as_string=True, wait=True)


def test_subclass_with_fields_and_methods(dioc):
    stage = Stage(f"{dioc}dev:val")
    assert stage.go(2.0) == 1
    assert stage.moves == 1
    assert stage.PV("VAL").get(use_monitor=False) == pytest.approx(2.0)
    assert stage.units == "mm"
    stage.text = 3.5
    assert stage.PV("VAL").get(use_monitor=False) == pytest.approx(3.5)
    assert stage.DESC == "device value"


def test_positional_attrs_as_pyepics(dioc):
    device = Device(f"{dioc}dev:val.", ("VAL", "EGU"))
    assert device.EGU == "mm"


# ---- waiting -------------------------------------------------------------------------------------

def test_wait_for_condition_times_out_and_cleans_up(dev):
    thispv = dev.PV("VAL")
    before = dict(thispv.callbacks)
    assert wait_for_condition([thispv], lambda: False, 0.2) is False
    assert thispv.callbacks == before


def test_wait_for_condition_from_a_callback_thread(dev):
    """Inside a PV callback (the dispatcher thread) the wait re-reads instead of waiting for
    monitor updates that cannot arrive."""
    results = []
    finished = threading.Event()
    target = dev.PV("VAL")

    def in_callback(value=None, **kws):
        if value == pytest.approx(8.5) and not results:
            dev.put("VAL", 9.5)
            results.append(wait_for_condition(
                [target], lambda: target.get(use_monitor=False) == pytest.approx(9.5), DEADLINE))
            finished.set()

    dev.add_callback("VAL", in_callback)
    dev.put("VAL", 8.5)
    assert finished.wait(DEADLINE)
    assert results == [True]
