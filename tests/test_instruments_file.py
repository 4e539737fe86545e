"""The instruments file itself (no Channel Access): creating and reopening it, migrating an
older schema, refusing foreign, damaged and newer files without touching them, the operations
on instruments and positions, JSON export and import, the recent-files list and the command
line commands that need no IOC.
"""
from __future__ import annotations

import io
import json
import sqlite3

import pytest

from epics.instruments import (ExistsError, InstrumentFile, InstrumentFileError, NotFoundError,
                               PvEntry, recent_files, remember_file)
from epics.instruments import _schema, cli, recent


@pytest.fixture(autouse=True)
def private_recent_list(tmp_path, monkeypatch):
    """Never touch the user's own recent-files list."""
    monkeypatch.setenv(recent.RECENT_ENV, str(tmp_path / "recent.json"))


@pytest.fixture
def f(tmp_path):
    with InstrumentFile(tmp_path / "beamline.db") as opened:
        opened.add_instrument("slits", [("xx:m1", "motor"), ("xx:m2", "motor"), "xx:gap"])
        yield opened


def pragma(path, name):
    with sqlite3.connect(str(path)) as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


def test_a_new_file_is_marked_versioned_and_in_wal_mode(tmp_path):
    path = tmp_path / "new.db"
    InstrumentFile(path).close()
    assert pragma(path, "application_id") == _schema.APPLICATION_ID
    assert pragma(path, "user_version") == _schema.SCHEMA_VERSION
    assert pragma(path, "journal_mode") == "wal"
    with InstrumentFile(path) as again:
        assert again.instruments() == []


def test_an_empty_file_becomes_an_instruments_file(tmp_path):
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    with InstrumentFile(path) as opened:
        opened.add_instrument("one", ["a:b"])
    assert pragma(path, "application_id") == _schema.APPLICATION_ID


def test_an_older_file_is_migrated_and_keeps_its_data(tmp_path):
    path = tmp_path / "v1.db"
    with sqlite3.connect(str(path)) as db:
        version, script = _schema.MIGRATIONS[0]
        db.executescript(script)
        db.execute(f"PRAGMA application_id = {_schema.APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {version}")
        db.execute("INSERT INTO instrument (id, name, created) VALUES (1, 'old', 0)")
        db.execute("INSERT INTO instrument_pv VALUES (1, 'xx:ao', 'pv', 0)")
    with InstrumentFile(path) as opened:
        assert opened.instrument("old").pvs == (PvEntry("xx:ao", "pv", None),)
        opened.set_pvs("old", [PvEntry("xx:ao", tolerance=0.5)])   # the column of version 2
        assert opened.instrument("old").pvs[0].tolerance == 0.5
    assert pragma(path, "user_version") == _schema.SCHEMA_VERSION


def _refused(path, match):
    before = path.read_bytes()
    with pytest.raises(InstrumentFileError, match=match):
        InstrumentFile(path)
    assert path.read_bytes() == before, "a refused file must be left as it was"
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "nothing may be written to a refused file"


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("beamline notes\n" * 200)
    _refused(path, "not an instruments file")


def test_another_applications_database_is_refused_untouched(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(str(path)) as db:
        db.execute("CREATE TABLE samples (name TEXT)")
        db.execute("INSERT INTO samples VALUES ('LaB6')")
    _refused(path, "another application")


def test_a_damaged_file_is_refused_untouched(tmp_path):
    path = tmp_path / "damaged.db"
    with InstrumentFile(path) as opened:
        opened.add_instrument("slits", [f"xx:pv{i}" for i in range(300)])
    with sqlite3.connect(str(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(path.read_bytes())
    assert len(data) > 3 * page_size
    data[2 * page_size: 3 * page_size] = b"\xa5" * page_size   # garbage over a whole page
    path.write_bytes(bytes(data))
    _refused(path, "damaged|not an instruments file|malformed")


def test_a_file_of_a_newer_version_is_refused_untouched(tmp_path):
    path = tmp_path / "future.db"
    InstrumentFile(path).close()
    with sqlite3.connect(str(path)) as db:
        db.execute(f"PRAGMA user_version = {_schema.SCHEMA_VERSION + 1}")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _refused(path, "newer than this epicsca")


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(InstrumentFileError, match="folder"):
        InstrumentFile(tmp_path)


def test_instruments_keep_their_pvs_in_order_with_kinds(f):
    assert f.instruments() == ["slits"]
    assert [(e.pvname, e.kind) for e in f.instrument("slits").pvs] == [
        ("xx:m1", "motor"), ("xx:m2", "motor"), ("xx:gap", "pv")]
    f.set_pvs("slits", ["xx:gap", ("xx:m2", "motor")])
    assert f.instrument("slits").pvnames == ("xx:gap", "xx:m2")
    with pytest.raises(ValueError, match="more than once: xx:gap"):
        f.set_pvs("slits", ["xx:gap", "xx:gap"])
    with pytest.raises(ValueError, match="kind must be one of"):
        f.add_instrument("bad", [("xx:m1", "stepper")])
    with pytest.raises(ValueError, match="not a PV name"):
        f.add_instrument("bad", ["has space"])
    with pytest.raises(ExistsError, match="'slits' exists already"):
        f.add_instrument("slits")
    with pytest.raises(NotFoundError, match="no instrument 'nope'.*slits"):
        f.instrument("nope")
    assert "bad" not in f.instruments()


def test_positions_rename_delete_and_replace(f):
    f.store_position("slits", "open", {"xx:m1": 1.0, "xx:m2": -1.0, "xx:gap": 2.0}, saved=10)
    f.store_position("slits", "closed", {"xx:m1": 0.0, "xx:m2": 0.0, "xx:gap": 0.0}, saved=20)
    assert f.positions("slits") == ["open", "closed"]
    with pytest.raises(ExistsError):
        f.store_position("slits", "open", {"xx:m1": 5.0}, replace=False)
    assert f.position("slits", "open").values["xx:m1"] == 1.0
    f.store_position("slits", "open", {"xx:m1": 5.0})            # a replace is whole
    assert f.position("slits", "open").values == {"xx:m1": 5.0}
    f.rename_position("slits", "open", "wide")
    with pytest.raises(ExistsError):
        f.rename_position("slits", "wide", "closed")
    f.delete_position("slits", "closed")
    assert f.positions("slits") == ["wide"]
    with pytest.raises(NotFoundError, match="no position 'closed'.*wide"):
        f.position("slits", "closed")
    f.rename_instrument("slits", "jaws")
    assert f.positions("jaws") == ["wide"]
    f.delete_instrument("jaws")
    assert f.instruments() == []
    with sqlite3.connect(str(f.path)) as db:        # the positions went with it
        assert db.execute("SELECT count(*) FROM position_value").fetchone()[0] == 0


def test_values_of_every_kind_survive_the_file(f, tmp_path):
    values = {"xx:m1": 1.25, "xx:m2": 3, "xx:gap": [1.5, float("nan")], "xx:s": "Cu 0.1mm"}
    f.store_position("slits", "p", values)
    with InstrumentFile(f.path) as other:
        got = other.position("slits", "p").values
    assert got["xx:m1"] == 1.25 and got["xx:m2"] == 3 and got["xx:s"] == "Cu 0.1mm"
    assert got["xx:gap"][0] == 1.5 and got["xx:gap"][1] != got["xx:gap"][1]   # NaN


def test_json_export_and_import(f, tmp_path):
    f.store_position("slits", "open", {"xx:m1": 1.0, "xx:gap": "wide"}, saved=5.0)
    document = json.loads(json.dumps(f.export_json()))
    with InstrumentFile(tmp_path / "copy.db") as copy:
        assert copy.import_json(document) == ["slits"]
        assert copy.instrument("slits") == f.instrument("slits")
        assert copy.position("slits", "open") == f.position("slits", "open")
        copy.add_instrument("mine")
        document["instruments"].insert(0, {"name": "mine2", "pvs": [], "positions": []})
        with pytest.raises(ExistsError, match="nothing imported"):
            copy.import_json(document)                   # slits exists
        assert "mine2" not in copy.instruments()         # one transaction: none imported
        copy.import_json(document, replace=True)
        assert copy.instruments() == ["mine", "mine2", "slits"]
    for bad, why in (([], "top level"), ({"format": "x"}, "format"),
                     ({"format": "epics.instruments", "version": 99}, "version"),
                     ({"format": "epics.instruments", "version": 1,
                       "instruments": [{"name": "a", "pvs": [{"kind": "motor"}]}]},
                      "bad PV entry")):
        with pytest.raises(ValueError, match=why):
            f.import_json(bad)


def test_recent_files_newest_first_and_bounded(tmp_path):
    paths = []
    for i in range(recent.MAX_RECENT + 2):
        path = tmp_path / f"f{i}.db"
        path.touch()
        paths.append(path)
        remember_file(path)
    remember_file(paths[3])
    found = recent_files()
    assert found[0] == paths[3].resolve() and len(found) == recent.MAX_RECENT
    assert paths[0].resolve() not in found
    paths[-1].unlink()                                   # gone files are not offered
    assert paths[-1].resolve() not in recent_files()
    recent.recent_list_path().write_text("{not json")
    assert recent_files() == []                          # logged and ignored
    remember_file(paths[3])
    assert recent_files() == [paths[3].resolve()]


def test_command_line_without_ioc(f, tmp_path, capsys):
    path = str(f.path)
    f.store_position("slits", "open", {"xx:m1": 1.0}, saved=5.0)
    out = io.StringIO()
    assert cli.main([path, "list"], out=out) == 0
    assert out.getvalue() == "slits: 3 PVs, 1 positions\n"
    exported = tmp_path / "out.json"
    assert cli.main([path, "export", str(exported)], out=out) == 0
    assert cli.main([str(tmp_path / "b.db"), "import", str(exported)], out=out) == 0
    assert cli.main([path, "delete", "slits", "open"], out=out) == 0
    assert cli.main([path, "delete", "slits", "open"], out=out) == 2
    assert "no position 'open'" in capsys.readouterr().err
    assert recent_files() == [f.path.resolve(), (tmp_path / "b.db").resolve()]
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database, " * 100)
    assert cli.main([str(notes), "list"], out=out) == 2
    assert "not an instruments file" in capsys.readouterr().err


OPENER = """
import sys, time
from epics.instruments import InstrumentFile
path, start, tag = sys.argv[1], float(sys.argv[2]), sys.argv[3]
time.sleep(max(start - time.time(), 0.0))     # all open the new file at the same moment
with InstrumentFile(path) as f:
    f.add_instrument(tag, ["xx:ao"])
    for i in range(10):
        f.store_position(tag, f"p{i}", {"xx:ao": i})
"""


def test_processes_creating_one_new_file_at_once_all_succeed(tmp_path):
    """Every process finds the file new, or ours: never half-made (the reads of the check are
    one transaction, and the schema is made under the write lock)."""
    import subprocess
    import sys
    import time
    path = tmp_path / "new.db"
    start = time.time() + 2.0
    openers = [subprocess.Popen([sys.executable, "-c", OPENER, str(path), str(start), f"i{n}"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for n in range(6)]
    try:
        outputs = [opener.communicate(timeout=120)[0] for opener in openers]
    finally:
        for opener in openers:
            if opener.poll() is None:
                opener.kill()
                opener.wait(timeout=10)
    assert [opener.returncode for opener in openers] == [0] * 6, outputs
    with InstrumentFile(path) as f:
        assert f.instruments() == [f"i{n}" for n in range(6)]
        assert all(len(f.positions(name)) == 10 for name in f.instruments())
