"""Server mode against real IOCs: ``python -m epics.instruments FILE serve sim:inst:`` carries
out "save" and "go to" requests that a CA client writes to the training IOC's ``sim:inst:`` PVs,
reports errors in the message PV, and keeps serving after the IOC restarts.

Processes: the training IOC (epics.sim.training, one prefix), a caproto server with two
simulated motors, and the instruments server itself, all started and stopped by the test
(also on failure), once for the module: the restart test comes last.
"""
from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading

import pytest

from epics import PV, caget, caput, get_pv
from epics.device import wait_for_condition
from epics.instruments import MOTOR, InstrumentFile, layout
from epics.testing import SubprocessIoc, unique_prefix
from instruments_helpers import DEADLINE, prepare_motor, simulated_motors

P = layout.DEFAULT_PREFIX


def fresh(name, **kws):
    return caget(name, use_monitor=False, timeout=DEADLINE, **kws)


def message() -> str:
    return fresh(P + layout.MESSAGE, as_string=True) or ""


def wait_for(pvname: str, condition, what: str) -> None:
    pv = PV(pvname)
    try:
        assert pv.wait_for_connection(timeout=DEADLINE), f"{pvname} does not connect"
        assert wait_for_condition([pv], condition, DEADLINE), \
            f"{what} within {DEADLINE} s; message: {message()!r}"
    finally:
        pv.disconnect()


def request(command: str, instrument: str, position: str) -> str:
    """Write a request as a SPEC macro would, wait until the server is done; its status."""
    assert caput(P + layout.INSTRUMENT, instrument, wait=True, timeout=DEADLINE) == 1
    assert caput(P + layout.POSITION, position, wait=True, timeout=DEADLINE) == 1
    busy_values = []
    busy = PV(P + layout.BUSY, callback=lambda value=None, **kws: busy_values.append(value))
    try:
        assert busy.wait_for_connection(timeout=DEADLINE)
        assert wait_for_condition([busy], lambda: busy_values == [0], DEADLINE)
        assert caput(P + layout.COMMAND, command, wait=True, timeout=DEADLINE) == 1
        # busy went to 1 (set by the IOC within the put, or by the server) and back to 0
        assert wait_for_condition([busy], lambda: busy_values[-1:] == [0] and 1 in busy_values,
                                  DEADLINE), f"{command} not done: busy was {busy_values}"
    finally:
        busy.disconnect()
    assert fresh(P + layout.COMMAND, as_string=True) == "Idle"
    return fresh(P + layout.STATUS, as_string=True)


def test_the_ioc_marks_a_request_busy_while_the_put_is_processed(training_ioc):
    """The training IOC's own part: a put to command sets busy before it completes (no
    instruments server is needed for that, and none answers these names)."""
    prefix = "sim:inst:"
    assert caput(prefix + layout.BUSY, 0, wait=True) == 1
    assert caput(prefix + layout.COMMAND, "Idle", wait=True) == 1
    assert fresh(prefix + layout.BUSY) == 0
    assert caput(prefix + layout.COMMAND, "Go To", wait=True) == 1
    assert fresh(prefix + layout.BUSY) == 1
    assert caput(prefix + layout.COMMAND, "Idle", wait=True) == 1
    assert fresh(prefix + layout.BUSY) == 1          # only a request sets it; the server clears
    assert caput(prefix + layout.BUSY, 0, wait=True) == 1


@pytest.fixture(scope="module")
def training_ioc(epics_port_pool):
    port = epics_port_pool.take()
    ioc = SubprocessIoc([sys.executable, "-m", "epics.sim.training", "--port", "{port}",
                         "--beacon-port", "{repeater_port}", "--prefixes", "1",
                         "--exit-on-stdin-eof"], port=port,
                        repeater_port=epics_port_pool.repeater_port, ready="tcp",
                        name="training-ioc", guard=False)   # it watches its stdin itself
    try:
        with ioc:
            yield ioc
    finally:
        epics_port_pool.release(port)


@pytest.fixture(scope="module")
def served(training_ioc, epics_port_pool, tmp_path_factory):
    """An instruments file with 'pinhole' (two motors, sim:ao1, id01:string1) and its server
    running in a process of its own, for the module; yields (file, motors, IOC)."""
    names = [f"{unique_prefix('inss')}m{i}" for i in (1, 2)]
    with simulated_motors(epics_port_pool, names):
        for name in names:
            prepare_motor(name, 0.0)
        tmp_path = tmp_path_factory.mktemp("served")
        path = tmp_path / "beamline.db"
        with InstrumentFile(path) as f:
            f.add_instrument("pinhole", [(n, MOTOR) for n in names]
                             + ["sim:ao1", "id01:string1"])
        env = dict(os.environ, EPICS_INSTRUMENTS_RECENT=str(tmp_path / "recent.json"))
        server = subprocess.Popen([sys.executable, "-m", "epics.instruments", str(path), "-v",
                                   "serve", P], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  env=env)
        lines: "queue.Queue[str]" = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(line) for line in server.stdout],
                                  daemon=True)
        reader.start()
        try:
            wait_for(P + layout.MESSAGE, lambda: message().startswith("ready"),
                     "the server did not say it is ready")
            # The names are the simulator's, which an earlier module (the docs) also served; it
            # releases its PVs of them when its simulator stops, so these are fresh channels.
            # A fresh search can still take longer than caput's connection timeout on a busy
            # machine: wait for the connection here.
            for name in ("sim:ao1", "id01:string1"):
                assert get_pv(name).wait_for_connection(timeout=DEADLINE), \
                    f"{name} of the training IOC does not connect"
            with InstrumentFile(path) as f:
                yield f, names, training_ioc
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
            reader.join(timeout=5)
            output = []
            while not lines.empty():
                output.append(lines.get())
            print("".join(output))       # shown when the test fails


def test_save_and_go_to_requests_from_any_ca_client(served):
    f, motors, _ = served
    for name, target in zip(motors, (1.5, -2.0)):
        assert caput(f"{name}.VAL", target, wait=True, timeout=DEADLINE) == 1
    assert caput("sim:ao1", 2.5, wait=True) == 1
    assert caput("id01:string1", "pinhole in", wait=True) == 1
    assert request("Save", "pinhole", "in") == "Done"
    assert message() == "done: saved 'pinhole' as 'in'"
    assert f.position("pinhole", "in").values["id01:string1"] == "pinhole in"

    for name in motors:
        assert caput(f"{name}.VAL", 0.0, wait=True, timeout=DEADLINE) == 1
    assert caput("sim:ao1", -1.0, wait=True) == 1
    assert request("Go To", "pinhole", "in") == "Done"
    assert "4 of 4 PVs restored" in message()
    assert fresh(f"{motors[0]}.RBV") == pytest.approx(1.5)
    assert fresh(f"{motors[1]}.RBV") == pytest.approx(-2.0)
    assert fresh("sim:ao1") == pytest.approx(2.5)

    assert request("Go To", "pinhole", "nowhere") == "Error"
    assert "no position 'nowhere'" in message()
    prepare_motor(motors[1], 5.0, low=0.0, high=10.0)      # -2.0 is now beyond its limit
    assert request("Go To", "pinhole", "in") == "Error"
    assert motors[1] in message() and "soft limit" in message()


def test_the_server_keeps_serving_after_the_ioc_restarts(served):
    f, motors, ioc = served
    prepare_motor(motors[1], 0.0)
    assert request("Save", "pinhole", "start") == "Done"
    start = f.position("pinhole", "start").values[motors[0]]
    ioc.restart()
    wait_for(P + layout.MESSAGE, lambda: message().startswith("ready"),
             "the server did not say it is ready again after the IOC restart")
    assert caput(f"{motors[0]}.VAL", start + 3.0, wait=True, timeout=DEADLINE) == 1
    assert request("Go To", "pinhole", "start") == "Done", message()
    assert fresh(f"{motors[0]}.RBV") == pytest.approx(start)
