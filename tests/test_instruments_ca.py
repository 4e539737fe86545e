"""epics.instruments against real IOCs: save and restore round-trips for motors (epics.sim's
simulated motor record), doubles, integers, enums (by state name), strings and arrays; a restore
that one motor cannot reach; restoring some PVs only; compare; the command line; and two
processes saving into one file at the same time.

Servers: a softioc serving tests/instruments.db and a caproto server with three simulated
motors, both for the whole module, stopped at its end (also on failure).
"""
from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from epics import caget, caput
from epics.instruments import MOTOR, InstrumentError, InstrumentFile, NotFoundError, PvEntry
from epics.instruments import cli
from epics.testing import SoftIoc, unique_prefix
from instruments_helpers import DEADLINE, prepare_motor, simulated_motors

DB = Path(__file__).with_name("instruments.db")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def plain(epics_port_pool):
    """The prefix of tests/instruments.db, served for this module."""
    prefix = unique_prefix("ins")
    port = epics_port_pool.take()
    try:
        with SoftIoc(DB, macros={"P": prefix}, port=port,
                     repeater_port=epics_port_pool.repeater_port):
            yield prefix
    finally:
        epics_port_pool.release(port)


@pytest.fixture(scope="module")
def motors(epics_port_pool):
    """Three simulated motors; yields their names."""
    prefix = unique_prefix("insm")
    names = [f"{prefix}m{i}" for i in (1, 2, 3)]
    with simulated_motors(epics_port_pool, names):
        yield names


@pytest.fixture
def stage(motors, plain, tmp_path, monkeypatch):
    """An instruments file with instrument 'stage': the three motors and every kind of plain
    PV, all put at a known state first."""
    monkeypatch.setenv("EPICS_INSTRUMENTS_RECENT", str(tmp_path / "recent.json"))
    for name in motors:
        prepare_motor(name, 0.0)
    for suffix, value in (("gain", 1.5), ("count", 10), ("filter", "None"),
                          ("sample", "LaB6"), ("roi", [0.0, 0.0, 0.0]), ("note", "empty")):
        assert caput(plain + suffix, value, wait=True, timeout=DEADLINE) == 1
    f = InstrumentFile(tmp_path / "beamline.db")
    f.add_instrument("stage", [(name, MOTOR) for name in motors]
                     + [plain + s for s in ("gain", "count", "filter", "sample", "roi", "note")])
    yield f, motors, plain
    f.close()


def fresh(name, **kws):
    return caget(name, use_monitor=False, timeout=DEADLINE, **kws)


def scatter(motors, plain):
    """Put everything somewhere else than the saved 'aligned' position."""
    for name, target in zip(motors, (-2.0, 3.0, 0.25)):
        assert caput(f"{name}.VAL", target, wait=True, timeout=DEADLINE) == 1
    for suffix, value in (("gain", -7.25), ("count", 99), ("filter", "Al 1mm"),
                          ("sample", "Si 111"), ("roi", [9.0, 8.0]), ("note", "changed")):
        assert caput(plain + suffix, value, wait=True, timeout=DEADLINE) == 1


def align(motors, plain):
    for name, target in zip(motors, (1.25, -0.5, 2.0)):
        assert caput(f"{name}.VAL", target, wait=True, timeout=DEADLINE) == 1
    for suffix, value in (("gain", 12.345), ("count", 42), ("filter", "Cu 0.1mm"),
                          ("sample", "Fe foil"), ("roi", [1.5, 2.5, 3.5, 4.5]),
                          ("note", "aligned on the pinhole, 2026-12-04")):
        assert caput(plain + suffix, value, wait=True, timeout=DEADLINE) == 1


def test_save_and_restore_round_trip_of_every_kind_of_value(stage):
    f, motors, plain = stage
    align(motors, plain)
    saved = f.save_position("stage", "aligned")
    assert saved.values[plain + "filter"] == "Cu 0.1mm"   # an enum by its state name
    assert saved.values[plain + "roi"] == [1.5, 2.5, 3.5, 4.5]
    assert saved.values[motors[0]] == pytest.approx(1.25)
    assert all(row.matches for row in f.compare("stage", "aligned"))

    scatter(motors, plain)
    differing = {row.pvname for row in f.compare("stage", "aligned") if not row.matches}
    assert differing == set(saved.values)

    report = f.restore_position("stage", "aligned", timeout=DEADLINE)
    assert report.ok, str(report)
    assert set(report.moved) == set(saved.values) and report.failed == {}
    for name, target in zip(motors, (1.25, -0.5, 2.0)):
        assert fresh(f"{name}.RBV") == pytest.approx(target)
        assert fresh(f"{name}.DMOV") == 1
    assert fresh(plain + "gain") == pytest.approx(12.345)
    assert fresh(plain + "count") == 42
    assert fresh(plain + "filter", as_string=True) == "Cu 0.1mm"
    assert fresh(plain + "sample") == "Fe foil"
    assert list(fresh(plain + "roi")) == [1.5, 2.5, 3.5, 4.5]
    assert fresh(plain + "note", as_string=True) == "aligned on the pinhole, 2026-12-04"
    assert all(row.matches for row in f.compare("stage", "aligned"))


def test_a_motor_that_cannot_reach_is_reported_and_the_others_move(stage):
    f, motors, plain = stage
    align(motors, plain)
    f.save_position("stage", "aligned")
    scatter(motors, plain)
    # m2 (saved at -0.5) may now only go to 0..10: the target is beyond its soft limit.
    prepare_motor(motors[1], 3.0, low=0.0, high=10.0)

    report = f.restore_position("stage", "aligned", timeout=DEADLINE)
    assert not report.ok
    assert list(report.failed) == [motors[1]]
    assert "soft limit" in report.failed[motors[1]]
    assert motors[1] in report.summary() and "soft limit" in str(report)
    assert fresh(f"{motors[1]}.RBV") == pytest.approx(3.0)      # did not move
    assert fresh(f"{motors[0]}.RBV") == pytest.approx(1.25)     # the others did
    assert fresh(f"{motors[2]}.RBV") == pytest.approx(2.0)
    assert fresh(plain + "sample") == "Fe foil"                 # and so did the plain PVs
    rows = {row.pvname: row for row in f.compare("stage", "aligned")}
    assert not rows[motors[1]].matches and rows[motors[0]].matches


def test_a_missing_motor_and_a_refused_value_are_reported_and_the_rest_restored(stage):
    f, motors, plain = stage
    align(motors, plain)
    saved = f.save_position("stage", "aligned")
    ghost = "insghost:m9"                               # served by nobody
    f.set_pvs("stage", list(f.instrument("stage").pvs) + [PvEntry(ghost, MOTOR)])
    f.store_position("stage", "aligned", dict(saved.values, **{ghost: 1.0}))
    scatter(motors, plain)
    assert caput(plain + "filter.TWST", "Cu 0.2mm", wait=True) == 1   # 'Cu 0.1mm' is gone
    try:
        steps = []
        report = f.restore_position("stage", "aligned", timeout=DEADLINE,
                                    progress=steps.append)
    finally:
        assert caput(plain + "filter.TWST", "Cu 0.1mm", wait=True) == 1
    assert sorted(report.failed) == sorted([ghost, plain + "filter"])
    assert "not connected" in report.failed[ghost]
    assert "'Cu 0.1mm' is not a state" in report.failed[plain + "filter"]
    assert len(report.moved) == len(saved.values) - 1
    assert fresh(f"{motors[0]}.RBV") == pytest.approx(1.25)
    assert fresh(plain + "sample") == "Fe foil"
    assert steps[0] == "moving " + ", ".join(motors)    # the ghost never started
    assert f"writing {plain}gain" in steps


def test_restore_only_some_pvs(stage):
    f, motors, plain = stage
    align(motors, plain)
    f.save_position("stage", "aligned")
    scatter(motors, plain)
    report = f.restore_position("stage", "aligned", only=[motors[2], plain + "count"],
                                timeout=DEADLINE)
    assert report.ok and report.moved == [motors[2], plain + "count"]
    assert fresh(f"{motors[2]}.RBV") == pytest.approx(2.0)
    assert fresh(f"{motors[0]}.RBV") == pytest.approx(-2.0)      # left alone
    assert fresh(plain + "count") == 42 and fresh(plain + "gain") == pytest.approx(-7.25)
    with pytest.raises(KeyError, match="no PV 'nosuch:pv'"):
        f.restore_position("stage", "aligned", only=["nosuch:pv"])


def test_compare_uses_the_precision_or_the_given_tolerance(stage):
    f, motors, plain = stage
    f.set_pvs("stage", [plain + "gain", PvEntry(plain + "count", tolerance=5)])
    f.save_position("stage", "now")
    assert caput(plain + "gain", 1.5004, wait=True) == 1    # PREC 3: within half a unit
    assert caput(plain + "count", 14, wait=True) == 1
    assert all(row.matches for row in f.compare("stage", "now"))
    assert caput(plain + "gain", 1.502, wait=True) == 1
    rows = f.compare("stage", "now")
    assert [row.matches for row in rows] == [False, True]
    # a tolerance given to compare() is for every PV, whatever their own
    assert [row.matches for row in f.compare("stage", "now", tolerance=0.01)] == [True, False]
    assert not any(row.matches for row in f.compare("stage", "now", tolerance=0.0))


def test_a_save_with_an_unreachable_pv_writes_nothing(stage):
    f, motors, plain = stage
    f.set_pvs("stage", [plain + "gain", "insnosuch:pv"])
    with pytest.raises(InstrumentError, match="insnosuch:pv"):
        f.save_position("stage", "half", timeout=1.0)
    assert f.positions("stage") == []
    with pytest.raises(NotFoundError, match="no position 'half'"):
        f.position("stage", "half")


def test_command_line_save_diff_and_goto(stage):
    f, motors, plain = stage
    path = str(f.path)
    out = io.StringIO()
    align(motors, plain)
    assert cli.main([path, "save", "stage", "aligned"], out=out) == 0
    assert cli.main([path, "save", "stage", "aligned"], out=out) == 2   # exists: --replace
    scatter(motors, plain)
    out = io.StringIO()
    assert cli.main([path, "diff", "stage", "aligned"], out=out) == 0
    assert out.getvalue().count("MOVE") == 9

    answers = []
    args = cli._parser().parse_args([path, "goto", "stage", "aligned", "--only", motors[0]])
    assert cli._goto(f, args, io.StringIO(), ask=lambda q: answers.append(q) or "n") == 1
    assert answers and "restore 1 PVs" in answers[0]
    assert fresh(f"{motors[0]}.RBV") == pytest.approx(-2.0)      # the answer was no

    out = io.StringIO()
    assert cli.main([path, "goto", "stage", "aligned", "--yes", "--timeout", "60"],
                    out=out) == 0, out.getvalue()
    assert "9 of 9 PVs restored" in out.getvalue()
    assert fresh(f"{motors[1]}.RBV") == pytest.approx(-0.5)
    out = io.StringIO()
    assert cli.main([path, "show", "stage"], out=out) == 0
    assert "motor  " + motors[0] in out.getvalue() and "aligned" in out.getvalue()


def test_command_line_create_recognises_motors(motors, plain, tmp_path, monkeypatch):
    monkeypatch.setenv("EPICS_INSTRUMENTS_RECENT", str(tmp_path / "recent.json"))
    path = str(tmp_path / "new.db")
    out = io.StringIO()
    assert cli.main([path, "create", "two", f"{motors[0]}.VAL", plain + "gain"], out=out) == 0
    with InstrumentFile(path) as f:
        assert [e.kind for e in f.instrument("two").pvs] == ["motor", "pv"]


SAVER = textwrap.dedent("""
    import sys
    from epics.instruments import InstrumentFile
    path, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with InstrumentFile(path) as f:
        f.instrument("stage")
        print("ready", flush=True)
        sys.stdin.readline()        # both start saving at the same moment
        for i in range(count):
            f.save_position("stage", f"{tag}-{i}")
    print("saved", count)
""")


def test_two_processes_saving_into_one_file_lose_nothing(stage):
    f, motors, plain = stage
    f.set_pvs("stage", [motors[0], plain + "gain", plain + "sample", plain + "roi"])
    align(motors, plain)
    count = 25
    savers = [subprocess.Popen([sys.executable, "-c", SAVER, str(f.path), tag, str(count)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=REPO)
              for tag in ("a", "b")]
    try:
        assert [saver.stdout.readline().strip() for saver in savers] == ["ready", "ready"]
        for saver in savers:
            saver.stdin.write("go\n")
            saver.stdin.flush()
        outputs = [saver.communicate(timeout=120)[0] for saver in savers]
    finally:
        for saver in savers:
            if saver.poll() is None:
                saver.kill()
                saver.wait(timeout=10)
    assert [saver.returncode for saver in savers] == [0, 0], outputs
    names = f.positions("stage")   # in the order saved
    assert {name[0] for name in names[:count]} == {"a", "b"}, \
        f"the two processes did not save at the same time: {names}"
    assert sorted(names) == sorted(f"{tag}-{i}" for tag in "ab" for i in range(count))
    for name in names:
        assert f.position("stage", name).values[plain + "sample"] == "Fe foil"
