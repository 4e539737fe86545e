"""CA contexts with epics.ca: start-up, threads (attached automatically), contexts of one's own,
attach/detach, a forked child, and finalize (in a subprocess, since it ends CA for the process)."""
from __future__ import annotations

import multiprocessing
import os
import threading

import pytest

from epics import ca
from epics._errors import ECA
from test_ca_helpers import (DEADLINE, Recorder, connected_channel, in_thread, last_line,
                             run_python)


# ---- start-up --------------------------------------------------------------------------------

def test_initialize_libca_returns_libca_and_is_idempotent():
    lib = ca.initialize_libca()
    assert ca.initialize_libca() is lib
    assert ca.libca is lib
    assert callable(lib.ca_create_channel)


def test_initialize_libca_sets_the_initial_context():
    ca.initialize_libca()
    assert ca.initial_context is not None
    assert ca.current_context() == ca.initial_context


def test_initialize_libca_allows_16_mib_arrays_unless_the_user_chose(ioc):
    env = {k: v for k, v in os.environ.items() if k != "EPICS_CA_MAX_ARRAY_BYTES"}
    script = """
        import os
        from epics import ca
        ca.initialize_libca()
        print(os.environ["EPICS_CA_MAX_ARRAY_BYTES"])
    """
    assert last_line(run_python(script, env=env)) == str(16 * 1024 * 1024)
    env["EPICS_CA_MAX_ARRAY_BYTES"] = "100000"
    assert last_line(run_python(script, env=env)) == "100000"


# ---- threads ---------------------------------------------------------------------------------

def test_a_plain_thread_is_attached_to_the_initial_context_on_first_use():
    ca.initialize_libca()
    assert in_thread(ca.current_context) == ca.initial_context


def test_a_plain_thread_can_read_without_any_context_call(ioc):
    def read():
        return ca.get(connected_channel(ioc.pv("wf:short"))).tolist()
    assert in_thread(read) == [-2, -1, 0, 1, 2]


def test_CAThread_runs_attached_to_the_initial_context():
    ca.initialize_libca()
    seen = []
    thread = ca.CAThread(target=lambda: seen.append(ca.libca.ca_current_context()))
    thread.start()
    thread.join(DEADLINE)
    assert seen == [ca.initial_context]


def test_ten_plain_threads_create_channels_and_read_at_once(ioc):
    records = {"wf:short": [-2, -1, 0, 1, 2], "wf:string": ["alpha", "beta", "gamma"],
               "counter": None, "ai": None}
    start = threading.Barrier(10, timeout=DEADLINE)
    results, errors = {}, []

    def worker(index):
        try:
            start.wait()
            values = {}
            for record in records:
                chid = ca.create_channel(ioc.pv(record))
                assert ca.connect_channel(chid, timeout=DEADLINE)
                value = ca.get(chid, timeout=DEADLINE)
                values[record] = value.tolist() if hasattr(value, "tolist") else value
            results[index] = (values, ca.current_context())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE * 2)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert len(results) == 10
    for values, context in results.values():
        assert context == ca.initial_context
        assert values["wf:short"] == records["wf:short"]
        assert values["wf:string"] == records["wf:string"]
        assert isinstance(values["counter"], float) and isinstance(values["ai"], float)


def test_user_callbacks_make_their_ca_calls_in_the_initial_context(ioc):
    seen = []
    rec = Recorder(action=lambda **kwargs: seen.append(ca.current_context()))
    chid = connected_channel(ioc.pv("bo"))
    ca.put(chid, 0, callback=rec)
    assert rec.wait_count(1)
    assert seen == [ca.initial_context]


# ---- contexts of one's own -------------------------------------------------------------------

def test_create_context_in_a_new_thread_makes_a_context_of_its_own(ioc):
    ca.initialize_libca()

    def own_context():
        ca.create_context()
        try:
            context = ca.current_context()
            value = ca.get(connected_channel(ioc.pv("wf:short"))).tolist()
        finally:
            ca.destroy_context()
        return context, value

    context, value = in_thread(own_context)
    assert context not in (None, ca.initial_context)
    assert value == [-2, -1, 0, 1, 2]


def test_context_create_and_context_destroy_are_aliases():
    ca.initialize_libca()

    def own_context():
        status = ca.context_create()
        context = ca.current_context()
        ca.context_destroy()
        return status, context

    status, context = in_thread(own_context)
    assert status == ECA.NORMAL
    assert context not in (None, ca.initial_context)


def test_channels_of_another_context_are_separate_from_the_initial_ones(ioc):
    pvname = ioc.pv("ao")
    main_chid = connected_channel(pvname)

    def own_context():
        ca.create_context()
        try:
            chid = connected_channel(pvname)
            return chid.value, ca.get_cache(pvname).chid_int
        finally:
            ca.destroy_context()

    other_chid, cached = in_thread(own_context)
    assert other_chid != main_chid.value
    assert cached == other_chid
    assert ca.get_cache(pvname).chid_int == main_chid.value


def test_destroy_context_forgets_the_channels_of_that_context(ioc):
    def own_context():
        ca.create_context()
        chid = connected_channel(ioc.pv("ao"))
        ca.destroy_context()
        with pytest.raises(ca.ChannelAccessException):
            ca.name(chid)
    in_thread(own_context)


def test_after_destroy_context_the_thread_falls_back_to_the_initial_context(ioc):
    def own_context():
        ca.create_context()
        ca.destroy_context()
        return ca.current_context(), ca.get(connected_channel(ioc.pv("wf:short")))[0]
    ca.initialize_libca()
    assert in_thread(own_context) == (ca.initial_context, -2)


def test_create_context_in_an_attached_thread_keeps_its_context():
    ca.initialize_libca()
    ca.create_context()
    assert ca.current_context() == ca.initial_context


# ---- attach / detach -------------------------------------------------------------------------

def test_detach_context_leaves_the_thread_without_a_context():
    def detach():
        ca.current_context()          # attached on first use
        ca.detach_context()
        return ca.libca.ca_current_context()
    assert in_thread(detach) is None


def test_a_detached_thread_is_attached_again_by_its_next_ca_call(ioc):
    def detach_then_read():
        ca.current_context()
        ca.detach_context()
        return ca.get(connected_channel(ioc.pv("wf:short")))[-1], ca.current_context()
    ca.initialize_libca()
    assert in_thread(detach_then_read) == (2, ca.initial_context)


def test_attach_context_attaches_a_detached_thread():
    ca.initialize_libca()
    initial = ca.initial_context

    def detach_then_attach():
        ca.current_context()
        ca.detach_context()
        return ca.attach_context(initial), ca.libca.ca_current_context()

    assert in_thread(detach_then_attach) == (ECA.NORMAL, initial)


def test_attach_context_in_an_attached_thread_returns_eca_isattached():
    ca.initialize_libca()
    assert ca.attach_context(ca.initial_context) == ECA.ISATTACHED


def test_use_initial_context_attaches_a_detached_thread():
    ca.initialize_libca()

    def detach_then_use_initial():
        ca.current_context()
        ca.detach_context()
        return ca.use_initial_context(), ca.libca.ca_current_context()

    assert in_thread(detach_then_use_initial) == (ECA.NORMAL, ca.initial_context)


def test_use_initial_context_switches_a_thread_away_from_its_own_context():
    ca.initialize_libca()

    def switch():
        ca.create_context()
        own = ca.current_context()
        ca.use_initial_context()
        now = ca.current_context()
        ca.detach_context()           # back to the own context, to destroy it
        ca.attach_context(own)
        ca.destroy_context()
        return own, now

    own, now = in_thread(switch)
    assert own != ca.initial_context
    assert now == ca.initial_context


# ---- fork ------------------------------------------------------------------------------------

def _read_in_forked_child(pvname, queue):
    """Run in the forked child: read through CA (a fresh context) and report."""
    try:
        chid = ca.create_channel(pvname)
        connected = ca.connect_channel(chid, timeout=DEADLINE)
        value = ca.get(chid, timeout=DEADLINE)
        queue.put(("ok", connected, value.tolist(), ca.current_context()))
    except BaseException as exc:  # reported to the parent, which fails the test
        queue.put(("error", repr(exc), None, None))


def test_a_forked_child_reads_through_a_fresh_context_while_the_parent_monitors(ioc):
    counter = connected_channel(ioc.pv("counter"))
    updates = Recorder()
    subscription = ca.create_subscription(counter, callback=updates)
    try:
        assert updates.wait_count(2)
        fork = multiprocessing.get_context("fork")
        queue = fork.Queue()
        child = fork.Process(target=_read_in_forked_child, args=(ioc.pv("wf:short"), queue))
        child.start()
        try:
            outcome, connected, value, child_context = queue.get(timeout=DEADLINE * 3)
            child.join(DEADLINE)
        finally:
            if child.is_alive():
                child.kill()
                child.join(DEADLINE)
        assert outcome == "ok", connected
        assert connected is True
        assert value == [-2, -1, 0, 1, 2]
        assert child_context != ca.initial_context
        assert child.exitcode == 0
        seen = len(updates.calls)
        assert updates.wait_count(seen + 3), "the parent's subscription stopped after the fork"
    finally:
        ca.clear_subscription(subscription)


# ---- finalize (each in a subprocess) ---------------------------------------------------------

FINALIZE_SCRIPT = """
    import time
    from epics import ca
    chid = ca.create_channel({pvname!r})
    assert ca.connect_channel(chid, timeout=10)
    subscription = ca.create_subscription(chid, callback=lambda **kw: None)
    started = time.monotonic()
    ca.finalize_libca()
    took = time.monotonic() - started
    assert took < 10, f"finalize_libca took {{took:.1f}} s"
    try:
        result = {call}
        print("returned", repr(result))
    except ca.CAFinalizedError:
        print("CAFinalizedError")
    except Exception as exc:
        print(type(exc).__name__, exc)
"""


def test_finalize_libca_returns_quickly_and_the_process_exits(ioc):
    script = FINALIZE_SCRIPT.format(pvname=ioc.pv("counter"), call="None")
    assert last_line(run_python(script, timeout=30)) == "returned None"


def test_finalize_libca_twice_is_harmless(ioc):
    script = FINALIZE_SCRIPT.format(pvname=ioc.pv("ao"), call="ca.finalize_libca()")
    assert last_line(run_python(script, timeout=30)) == "returned None"


@pytest.mark.parametrize("call", [
    "ca.get(chid)",
    "ca.put(chid, 1.0)",
    "ca.create_channel('another:pv')",
    "ca.create_subscription(chid)",
    "ca.flush_io()",
    "ca.pend_event(0.01)",
    "ca.sg_create()",
    "ca.current_context()",
    "ca.clear_cache()",
    "ca.use_initial_context()",
    "ca.attach_context(0)",
])
def test_ca_calls_after_finalize_raise_CAFinalizedError(ioc, call):
    script = FINALIZE_SCRIPT.format(pvname=ioc.pv("ao"), call=call)
    assert last_line(run_python(script, timeout=30)) == "CAFinalizedError"


def test_initialize_libca_after_finalize_starts_ca_again_as_pyepics(ioc):
    """PyEpics's own test suite finalizes and initializes CA again in one process: the new
    context serves new channels, subscriptions and monitors, and the process still exits."""
    script = """
        import threading
        from epics import ca
        updates = threading.Event()
        for round in range(3):
            ca.initialize_libca()
            chid = ca.create_channel({pvname!r})
            assert ca.connect_channel(chid, timeout=10), f"round {{round}}: no connection"
            assert ca.get(chid, timeout=10) is not None
            updates.clear()
            ca.create_subscription(chid, callback=lambda **kw: updates.set())
            assert updates.wait(10), f"round {{round}}: no monitor update"
            ca.finalize_libca()
        print("restarted", round + 1)
    """.format(pvname=ioc.pv("counter"))
    assert last_line(run_python(script, timeout=60)) == "restarted 3"


def test_ca_calls_after_finalize_raise_CAFinalizedError_in_other_threads_too(ioc):
    script = """
        import threading
        from epics import ca
        chid = ca.create_channel({pvname!r})
        used, finalized, outcome = threading.Event(), threading.Event(), []

        def worker():
            ca.get(chid, timeout=10)           # this thread is attached and has used CA
            used.set()
            finalized.wait(10)
            try:
                outcome.append(repr(ca.get(chid)))
            except ca.CAFinalizedError:
                outcome.append("CAFinalizedError")
            except Exception as exc:
                outcome.append(f"{{type(exc).__name__}} {{exc}}")

        thread = threading.Thread(target=worker)
        thread.start()
        used.wait(10)
        ca.finalize_libca()
        finalized.set()
        thread.join(10)
        print(outcome[0] if outcome else "no outcome")
    """.format(pvname=ioc.pv("ao"))
    assert last_line(run_python(script, timeout=30)) == "CAFinalizedError"
