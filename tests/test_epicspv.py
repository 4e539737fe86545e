"""epics.compat.epicsPV (Mark Rivers' class, as PyEpics provides it) against the session IOC."""
from __future__ import annotations

import time

from epics.compat import epicsPV
from test_ca_helpers import DEADLINE


def test_epicspv_monitor_put_and_control(pvname):
    pv = epicsPV(pvname("ao"))
    assert pv.connected
    pv.setMonitor()
    assert pv.checkMonitor() in (True, False)            # the first value may have arrived
    pv.putWait(3.25)
    assert pv.getw() == 3.25 and pv.array_get() == 3.25 and pv.getValue() == 3.25
    for _ in range(int(DEADLINE / 0.01)):        # bounded: the update is on its way
        if pv.checkMonitor():
            break
        time.sleep(0.01)
    else:
        raise AssertionError("no monitor update noted after the put")
    assert pv.checkMonitor() is False                    # the flag was reset
    pv.putw(1.5, wait=True)
    pv.clearMonitor()
    assert pv.checkMonitor() is False
    control = pv.getControl()
    assert {"units", "precision", "upper_ctrl_limit"} <= set(control)


def test_epicspv_without_waiting():
    pv = epicsPV("no:such:pv:for:epicspv", wait=False)
    assert not pv.connected and pv.monitorState is False
