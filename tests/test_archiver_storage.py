"""The archiver's storage interface, the same contract on SQLite and on a real PostgreSQL server
that this module starts (see archiver_pg.py): idempotent batches, the value in force before a
range, decimation in SQL, metadata, alerts, names that look like SQL; and, on PostgreSQL, a
lost database connection while the engine archives a real IOC: samples wait in memory within
the stated bound, the loss is reported, and nothing is lost once the server is back.
"""
from __future__ import annotations

import pytest

from epics.archiver import (AlertRule, Engine, EngineSettings, PvInfo, PvPolicy, Sample,
                            StorageError, open_storage)
from archiver_helpers import ARCHIVER_DB, wait_until
from archiver_pg import LocalPostgres

SECOND = 10**9


@pytest.fixture(scope="module")
def postgres():
    server = LocalPostgres()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'c.db'}"
    else:
        server = request.getfixturevalue("postgres")
        url = server.url
        with open_storage(url) as fresh:   # each test starts from empty tables
            fresh._run(lambda c: c.execute("TRUNCATE samples, pvs, alerts, alert_log"))
    with open_storage(url) as opened:
        yield opened


def test_batches_are_idempotent_and_ordered(storage):
    batch = [Sample("S:a", i * SECOND, float(i), None, i % 3, 0) for i in range(100)]
    assert storage.write(batch) == 100
    assert storage.write(batch[50:] + [Sample("S:a", 100 * SECOND, 100.0)]) == 1
    assert storage.count("S:a") == 101 and storage.count() == 101
    got = storage.samples("S:a", 10 * SECOND, 20 * SECOND)
    # the value in force at the start comes first, then 10..19
    assert [s.value for s in got] == [9.0] + [float(i) for i in range(10, 20)]
    assert storage.latest(["S:a", "S:none"]) == {"S:a": Sample("S:a", 100 * SECOND, 100.0)}


def test_buckets_are_min_and_max_per_interval(storage):
    samples = [Sample("S:w", i * SECOND, float((-1) ** i * i)) for i in range(1000)]
    samples.append(Sample("S:w", 1000 * SECOND, None, None, 3, -1))   # a gap
    storage.write(samples)
    buckets = storage.buckets("S:w", 0, 1001 * SECOND, 10)
    assert len(buckets) == 10
    first = buckets[0]    # 0..100.1 s holds samples 0..100
    assert (first.vmin, first.vmax, first.count) == (-99.0, 100.0, 101)
    assert sum(b.count for b in buckets) == 1001 and buckets[-1].gaps == 1
    assert buckets[-1].max_severity == 3
    assert storage.buckets("S:nothing", 0, SECOND, 10) == []


def test_metadata_alerts_and_sql_looking_names(storage):
    tricky = "S:x'; DROP TABLE samples; --"
    storage.write([Sample(tricky, SECOND, 1.0), Sample("S:a_b%", SECOND, None, "text")])
    storage.set_pv_info(PvInfo("S:mode", "enum", "", 0, ("Off", "On")))
    assert storage.pv_info("S:mode").enum_strs == ("Off", "On")
    assert storage.pv_info(tricky).kind == "number"
    assert storage.pv_names("_b%") == ["S:a_b%"]      # LIKE wildcards are taken literally
    assert storage.samples("S:a_b%", 0, 2 * SECOND)[0].text == "text"
    rule = AlertRule("S:a", ">", 5.0, 30.0, ("ops@example.org",), None, "too hot")
    alert_id = storage.add_alert(rule)
    assert storage.alerts()[0].recipients == ("ops@example.org",)
    storage.log_alert(alert_id, 5, "mailed")
    assert storage.alert_log() == [(alert_id, 5, "mailed")]
    assert storage.delete_alert(alert_id) and not storage.delete_alert(alert_id)


def test_a_closed_storage_says_so(storage):
    storage.close()
    with pytest.raises(StorageError, match="closed"):
        storage.count()


def test_lost_postgres_connection_is_buffered_reported_and_recovered(postgres, softioc_factory,
                                                                    pv_prefix):
    softioc_factory(ARCHIVER_DB, macros={"P": pv_prefix})
    counter = pv_prefix + "count"
    settings = EngineSettings(flush_interval=0.05, retry_interval=0.1)
    bounded = EngineSettings(flush_interval=0.05, retry_interval=0.1, max_buffered=5)
    engine = Engine([PvPolicy(counter)], open_storage(postgres.url), settings).start()
    small = Engine([PvPolicy(counter)], open_storage(postgres.url), bounded).start()
    reader = open_storage(postgres.url)
    try:
        wait_until(lambda: reader.count(counter) >= 5, what="counter archived")
        postgres.stop()
        wait_until(lambda: not engine.status().database_ok, what="loss reported")
        wait_until(lambda: engine.status().buffered >= 20, what="samples buffered")
        wait_until(lambda: small.status().dropped > 0, what="the small buffer overflowing")
        assert small.status().buffered <= 5
        assert "database" in engine.status().last_error
        postgres.start()
        wait_until(lambda: engine.status().database_ok and engine.status().buffered == 0,
                   what="backlog written after the restart")
    finally:
        engine.stop()
        small.stop()
    values = [s.value for s in reader.samples(counter, 0, 2**62, include_previous=False)]
    reader.close()
    # the counter goes up by one at each update: no value is missing across the outage
    assert values == [values[0] + i for i in range(len(values))]
    assert engine.status().dropped == 0
