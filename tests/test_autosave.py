"""epics.autosave against a real IOC (tests/autosave.db): request files with macros and
includes, the synApps save file, and save -> scramble -> restore round trips of every kind of
value (double, float, long, short, enum, string, long string, and arrays of each).

The IOC is stopped at the end of the module, also on failure; every wait is bounded.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from epics import PV, caget, caput
from epics.autosave import (AutoSaver, RequestFileError, SaveFileError, read_request_file,
                            restore_pvs, save_pvs)
from devices_helpers import module_ioc

AUTOSAVE_DB = Path(__file__).with_name("autosave.db")

#: (record or field, value written before the save, value written before the restore)
VALUES = [
    ("double", 1.2345678901234, -7.5),
    ("double.PREC", 5, 1),
    ("double.DESC", "sample height, mm", "scrambled"),
    ("long", -123456789, 42),
    ("float", 2.5, 0.125),
    ("short", -1234, 77),
    ("enum", "Open Wide", "Closed"),
    ("enum_unnamed", 3, 0),
    ("string", "two  blanks and a \"quote\"", "x"),
    ("lstring.VAL$", "L" * 60 + " a long string, " + "g" * 100, "short"),
    ("wave_double", [1.5, -2.25, 3.0e-12, 1.2345678901234e100], [0.0]),
    ("wave_float", [0.5, 1.25, -3.0], [9.0, 9.0]),
    ("wave_long", [1, -2, 2147483647, -2147483648], [5]),
    ("wave_short", [7, -8, 32767], [1, 2, 3, 4, 5]),
    ("wave_char", [0, 1, 255, 0, 10, 34], [9]),
    ("wave_string", ["a b", 'say "hi"', "back\\slash", ""], ["z"]),
]


@pytest.fixture(scope="module")
def prefix(epics_port_pool):
    """tests/autosave.db served under a random prefix for this module."""
    with module_ioc(epics_port_pool, AUTOSAVE_DB, "sav") as prefix:
        yield prefix


def server_value(pvname):
    """The value as the IOC has it now (text for long strings and enums)."""
    thispv = PV(pvname)
    assert thispv.wait_for_connection(timeout=10), pvname
    as_string = pvname.endswith("$") or thispv.type == "enum" and not pvname.endswith("unnamed")
    return thispv.get(use_monitor=False, as_string=as_string)


def write_all(prefix, column):
    for row in VALUES:
        assert caput(prefix + row[0], row[column], wait=True, timeout=10) == 1, row[0]


def assert_values_are(prefix, column):
    for row in VALUES:
        expected, got = row[column], server_value(prefix + row[0])
        if isinstance(expected, list):
            assert len(got) == len(expected), row[0]
            if isinstance(expected[0], str):
                assert list(got) == expected, row[0]
            else:
                assert np.allclose(np.asarray(got, dtype=float), expected, rtol=1e-6), row[0]
        elif isinstance(expected, float):
            assert got == pytest.approx(expected, rel=1e-12), row[0]
        else:
            assert got == expected, row[0]


def request_files(folder: Path) -> Path:
    """A top request file with scalars, including one for the arrays with a macro."""
    scalars = [row[0] for row in VALUES if not row[0].startswith("wave")]
    arrays = [row[0] for row in VALUES if row[0].startswith("wave")]
    (folder / "arrays.req").write_text(
        "# arrays, their prefix given by the including file\n"
        + "".join(f"$(P){name}\n" for name in arrays))
    top = folder / "top.req"
    top.write_text("# every kind of value\n"
                   + "".join(f"${{P}}{name}\n" for name in scalars)
                   + '\nfile "arrays.req" P=$(P)\n')
    return top


def test_save_then_restore_round_trips_every_kind_of_value(prefix, tmp_path):
    top = request_files(tmp_path)
    write_all(prefix, 1)
    saved = save_pvs(top, tmp_path / "all.sav", macros={"P": prefix})
    assert saved == str(tmp_path / "all.sav")
    write_all(prefix, 2)
    assert_values_are(prefix, 2)
    assert restore_pvs(tmp_path / "all.sav", wait=True) is True
    assert_values_are(prefix, 1)


def test_the_save_file_is_synapps_autosave_format(prefix, tmp_path):
    write_all(prefix, 1)
    (tmp_path / "some.req").write_text(
        f"{prefix}double\n{prefix}enum\n{prefix}string\n{prefix}lstring.VAL$\n"
        f"{prefix}wave_string\n{prefix}wave_char\n{prefix}no_such_record\n")
    save_pvs(tmp_path / "some.req", tmp_path / "some.sav", timeout=2.0)
    lines = (tmp_path / "some.sav").read_text().splitlines()
    assert lines[0].startswith("# save/restore V5.")
    assert "! 1 channel(s) not connected - or not all gets were successful" in lines
    body = [line for line in lines if not line.startswith(("# ", "!"))]
    assert body == [
        f"{prefix}double 1.2345678901234",
        f"{prefix}enum Open Wide",
        f'{prefix}string two  blanks and a "quote"',
        f"{prefix}lstring.VAL$ {VALUES[9][1]}",
        f'{prefix}wave_string @array@ {{ "a b" "say \\"hi\\"" "back\\\\slash" "" }}',
        f'{prefix}wave_char @array@ {{ "0" "1" "255" "0" "10" "34" }}',
        f"#{prefix}no_such_record Search Issued",
        "<END>",
    ]


def test_macros_defaults_and_nested_includes(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "motor.req").write_text("$(P)$(M).VAL\n$(P)$(M).DESC\n")
    (tmp_path / "sub" / "two.req").write_text("file motor.req P=$(P),M=m1\n"
                                              "file motor.req, P=$(P) M=$(M=m9)\n")
    (tmp_path / "top.req").write_text("# top\n\n$(P)$(Q=q)x  trailing words\n"
                                      "file sub/two.req P=XX:\n")
    assert read_request_file(tmp_path / "top.req", {"P": "AA:"}) == [
        "AA:qx", "XX:m1.VAL", "XX:m1.DESC", "XX:m9.VAL", "XX:m9.DESC"]


def test_request_file_errors_name_the_file_and_line(tmp_path):
    (tmp_path / "loop.req").write_text("a\nfile loop.req\n")
    with pytest.raises(RequestFileError, match=r"loop.req:2: .*includes itself"):
        read_request_file(tmp_path / "loop.req")
    (tmp_path / "missing.req").write_text("file nowhere.req\n")
    with pytest.raises(RequestFileError, match="nowhere.req"):
        AutoSaver(tmp_path / "missing.req")


def test_an_incomplete_save_file_restores_nothing(prefix, tmp_path):
    caput(prefix + "long", 11, wait=True)
    (tmp_path / "cut.sav").write_text(f"# save/restore V5.11\n{prefix}long 99\n")
    with pytest.raises(SaveFileError, match="no <END> line"):
        restore_pvs(tmp_path / "cut.sav")
    assert caget(prefix + "long", use_monitor=False) == 11


def test_a_bad_value_is_reported_and_the_others_restored(prefix, tmp_path, caplog):
    caput(prefix + "double", 1.0, wait=True)
    caput(prefix + "long", 1, wait=True)
    (tmp_path / "bad.sav").write_text(f"{prefix}double not-a-number\n{prefix}long 17\n"
                                      f"{prefix}gone 3\n<END>\n")
    with caplog.at_level(logging.WARNING, logger="epics.autosave"):
        assert restore_pvs(tmp_path / "bad.sav", wait=True, timeout=2.0) is False
    assert caget(prefix + "long", use_monitor=False) == 17
    assert caget(prefix + "double", use_monitor=False) == 1.0
    assert f"{prefix}double" in caplog.text and "not-a-number" in caplog.text
    assert f"cannot connect to {prefix}gone" in caplog.text


def test_pyepics_save_files_restore(prefix, tmp_path):
    """PyEpics writes arrays as JSON and char waveforms as text."""
    caput(prefix + "wave_text", "old", wait=True)
    (tmp_path / "pyepics.sav").write_text(
        "# File saved by pyepics AutoSaver.save() on 2026-01-01 00:00:00\n"
        f"{prefix}wave_long @array@ [4, 5, 6]\n{prefix}wave_text written by PyEpics\n"
        f"{prefix}enum 1\n<END>\n")
    assert restore_pvs(tmp_path / "pyepics.sav", wait=True) is True
    assert list(caget(prefix + "wave_long", use_monitor=False)) == [4, 5, 6]
    assert caget(prefix + "wave_text", as_string=True, use_monitor=False) == "written by PyEpics"
    assert caget(prefix + "enum", use_monitor=False) == 1


def test_autosaver_names_its_file_after_the_request_file(prefix, tmp_path):
    (tmp_path / "beam.req").write_text(f"{prefix}long\n")
    saver = AutoSaver(str(tmp_path / "beam.req"))
    assert [p.pvname for p in saver.pvs] == [f"{prefix}long"]
    written = Path(saver.save())
    assert written.parent == tmp_path and written.name.startswith("beam_")
    assert written.suffix == ".sav" and written.read_text().rstrip().endswith("<END>")
