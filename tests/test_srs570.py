"""epics.devices.SRS570 against a real IOC holding an SR570's PVs (tests/srs570.db): the
initial state, set_sensitivity with its offset, and stepping the gain up and down across units
and at both ends of the range.

The IOC is stopped at the end of the module, also on failure.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from epics import caget
from epics.devices import SRS570
from epics.devices.srs570 import VALID_STEPS, VALID_UNITS
from devices_helpers import module_ioc

SRS570_DB = Path(__file__).with_name("srs570.db")


@pytest.fixture(scope="module")
def prefix(epics_port_pool):
    with module_ioc(epics_port_pool, SRS570_DB, "amp") as prefix:
        yield prefix


@pytest.fixture
def amp(prefix):
    return SRS570(prefix)


def state(prefix):
    """(sensitivity, offset) as the IOC has them, in words: ('200 nA/V', '20 nA')."""
    def text(name):
        return caget(prefix + name, as_string=True, use_monitor=False)
    return (f"{text('sens_num')} {text('sens_unit')}",
            f"{text('offset_num')} {text('offset_unit')}")


def test_creating_it_initializes_the_amplifier(amp, prefix):
    assert caget(prefix + "gain_mode", use_monitor=False) == 0       # was LOW DRIFT
    assert caget(prefix + "bias_put", use_monitor=False) == 0.0      # was 1.5
    assert caget(prefix + "invert_on", use_monitor=False) == 0


def test_set_sensitivity_sets_the_offset_and_processes_init(amp, prefix):
    count = caget(prefix + "init", use_monitor=False)
    amp.set_sensitivity(200, "nA/V")
    assert state(prefix) == ("200 nA/V", "20 nA")
    assert caget(prefix + "init", use_monitor=False) == count + 1
    amp.set_sensitivity(5, "uA/V", offset=3.5)          # a tenth of 5 uA/V: 500 nA
    assert state(prefix) == ("5 uA/V", "500 nA")
    assert caget(prefix + "off_u_put", use_monitor=False) == 3.5
    amp.set_sensitivity(2, "pA/V")                      # nothing smaller than 1 pA
    assert state(prefix)[1] == "1 pA"


def test_invalid_sensitivity_is_logged_and_nothing_written(amp, prefix, caplog):
    amp.set_sensitivity(50, "mA/V")
    with caplog.at_level(logging.ERROR, logger="epics.devices.srs570"):
        amp.set_sensitivity(3, "nA/V")
        amp.set_sensitivity(10, "A/V")
    assert state(prefix)[0] == "50 mA/V"
    assert caplog.text.count("invalid sensitivity") == 2 and prefix in caplog.text


def test_gain_steps_cross_units_and_stop_at_the_ends(amp, prefix):
    amp.set_sensitivity(2, "nA/V")
    amp.increase_sensitivity()
    assert state(prefix)[0] == "1 nA/V"
    amp.increase_sensitivity()                          # into the next unit down
    assert state(prefix) == ("500 pA/V", "50 pA")
    amp.decrease_sensitivity()
    assert state(prefix)[0] == "1 nA/V"
    amp.set_sensitivity(1, "pA/V")
    amp.increase_sensitivity()                          # already the most sensitive
    assert state(prefix)[0] == "1 pA/V"
    amp.set_sensitivity(200, "mA/V")
    amp.decrease_sensitivity()
    amp.decrease_sensitivity()                          # already the least sensitive
    assert state(prefix)[0] == "500 mA/V"


def test_every_step_of_the_range_in_order(amp, prefix):
    amp.set_sensitivity(1, "pA/V")
    seen = [state(prefix)[0]]
    for _ in range(len(VALID_STEPS) * len(VALID_UNITS) - 1):
        amp.decrease_sensitivity()
        seen.append(state(prefix)[0])
    assert seen == [f"{step} {unit}" for unit in VALID_UNITS for step in VALID_STEPS]
