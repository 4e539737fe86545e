"""The rest of epics.ca: polling and flushing, messages and version, the channel cache, libca's
diagnostic output, PyEpics's decorators, and the module settings (those read at start-up are
tried in a subprocess)."""
from __future__ import annotations

import ctypes
import json
import os
import time

import pytest

from epics import ca, dbr
from epics._errors import ECA
from test_ca_helpers import (MISSING_PV, Recorder, connected_channel, in_thread, last_line,
                             run_python)


# ---- polling, flushing, messages -------------------------------------------------------------

def test_message_gives_libcas_text_for_a_status():
    assert ca.message(ECA.NORMAL) == "Normal successful completion"
    assert ca.message(ECA.TIMEOUT) == "User specified timeout on IO operation expired"


def test_version_is_the_ca_protocol_version():
    assert ca.version() == "4.13"


def test_flush_io_returns_eca_normal():
    assert ca.flush_io() == ECA.NORMAL


def test_pend_io_without_outstanding_io_returns_eca_normal():
    assert ca.pend_io(0.1) == ECA.NORMAL


def test_pend_event_returns_eca_timeout_as_libca_does():
    assert ca.pend_event(0.01) == ECA.TIMEOUT


def test_poll_returns_eca_normal():
    assert ca.poll() == ECA.NORMAL


def test_test_io_is_true_without_outstanding_io():
    assert ca.test_io() is True


def test_client_status_prints_diagnostics_and_returns_eca_normal(ioc, capfd):
    connected_channel(ioc.pv("ao"))
    assert ca.client_status(ca.current_context(), 1) == ECA.NORMAL


def test_find_libca_and_find_libCom_name_existing_files():
    assert os.path.isfile(ca.find_libca())
    assert os.path.isfile(ca.find_libCom())


def test_the_wheels_libca_is_found_without_importing_setuptools():
    # epicscorelibs.path imports setuptools, which cost ~150 ms of the first CA call
    result = run_python("""
        import sys, epics.ca as ca, epicscorelibs
        path = ca.find_libca()
        print(path.startswith(epicscorelibs.__path__[0]), "setuptools" in sys.modules)
    """, env={k: v for k, v in os.environ.items() if k != "PYEPICS_LIBCA"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]


# ---- the cache -------------------------------------------------------------------------------

def test_get_cache_gives_the_channel_entry(ioc):
    chid = connected_channel(ioc.pv("ao"))
    entry = ca.get_cache(ioc.pv("ao"))
    assert entry.pvname == ioc.pv("ao") and entry["pvname"] == ioc.pv("ao")
    assert entry.chid.value == chid.value and entry.conn is True


def test_get_cache_of_an_unknown_name_is_none():
    assert ca.get_cache("never-created:pv") is None


def test_show_cache_without_printing_returns_a_table_with_the_channels(ioc):
    connected_channel(ioc.pv("longout"))
    assert ioc.pv("longout") in ca.show_cache(print_out=False)


def test_show_cache_prints_the_table(ioc, capsys):
    connected_channel(ioc.pv("longout"))
    assert ca.show_cache() is None
    assert ioc.pv("longout") in capsys.readouterr().out


def test_clear_cache_forgets_every_channel(ioc):
    chid = connected_channel(ioc.pv("bo"))
    ca.clear_cache()
    assert ca.get_cache(ioc.pv("bo")) is None
    with pytest.raises(ca.ChannelAccessException):
        ca.name(chid)


def test_channels_work_again_after_clear_cache(ioc):
    ca.clear_cache()
    assert ca.get(connected_channel(ioc.pv("bo"))) == 0


def test_clear_cache_ends_subscriptions(ioc):
    rec = Recorder()
    ca.create_subscription(connected_channel(ioc.pv("counter")), callback=rec)
    assert rec.wait_count(1)
    ca.clear_cache()
    seen = len(rec.calls)
    clock = Recorder()
    subscription = ca.create_subscription(connected_channel(ioc.pv("counter")), callback=clock)
    try:
        assert clock.wait_count(4)
    finally:
        ca.clear_subscription(subscription)
    assert len(rec.calls) == seen


def test_clear_cache_runs_the_registered_callbacks():
    called = Recorder()
    ca.register_clear_cache(called)
    ca.clear_cache()
    assert len(called.calls) == 1


# ---- libca's diagnostic output ---------------------------------------------------------------

def libca_prints_an_exception_report():
    """Make libca print a report through its printf handler: ca_signal with a warning status
    (a warning only prints; an error status would abort the process)."""
    ca_signal = ctypes.CFUNCTYPE(None, ctypes.c_long, ctypes.c_char_p)(("ca_signal", ca.libca))
    ca_signal(ECA.TIMEOUT, b"reported by the test")


@pytest.fixture
def ca_messages_restored():
    yield
    ca.disable_ca_messages()


def test_replace_printf_handler_sends_libcas_text_to_the_writer(ca_messages_restored):
    writer = Recorder()
    assert ca.replace_printf_handler(writer) == ECA.NORMAL
    libca_prints_an_exception_report()
    text = "".join(call.args[0] for call in writer.calls)
    assert "CA.Client.Exception" in text and "reported by the test" in text


def test_disable_ca_messages_swallows_libcas_text(capfd):
    writer = Recorder()
    ca.enable_ca_messages(writer)
    ca.disable_ca_messages()
    libca_prints_an_exception_report()
    captured = capfd.readouterr()
    assert writer.calls == []
    assert "CA.Client.Exception" not in captured.out + captured.err


def test_enable_ca_messages_writes_to_stdout(ca_messages_restored, capsys):
    ca.enable_ca_messages("stdout")
    libca_prints_an_exception_report()
    assert "CA.Client.Exception" in capsys.readouterr().out


def test_enable_ca_messages_with_a_callable(ca_messages_restored):
    writer = Recorder()
    ca.enable_ca_messages(writer)
    libca_prints_an_exception_report()
    assert writer.calls


def test_replace_printf_handler_rejects_a_non_callable(ca_messages_restored):
    with pytest.raises(ca.ChannelAccessException):
        ca.replace_printf_handler("not callable")


# ---- PyEpics's decorators --------------------------------------------------------------------

def test_withCA_starts_ca_and_attaches_the_thread():
    @ca.withCA
    def context_seen():
        return ca.libca.ca_current_context()
    ca.initialize_libca()
    assert in_thread(context_seen) == ca.initial_context


def test_withCHID_passes_a_valid_chid_through(ioc):
    @ca.withCHID
    def pvname_of(chid):
        return ca.name(chid)
    assert pvname_of(ca.create_channel(ioc.pv("ao"))) == ioc.pv("ao")


def test_withCHID_rejects_an_unknown_chid():
    @ca.withCHID
    def never_called(chid):
        pytest.fail("called with an unknown chid")
    with pytest.raises(ca.ChannelAccessException):
        never_called(123456789)


def test_withConnectedCHID_connects_before_the_call(ioc):
    @ca.withConnectedCHID
    def connected_state(chid, timeout=None):
        return ca.isConnected(chid)
    ca.clear_cache()                      # so that the channel below is a new one
    assert connected_state(ca.create_channel(ioc.pv("longin")), timeout=10) is True


def test_withConnectedCHID_raises_CANotConnectedError_for_a_missing_pv():
    @ca.withConnectedCHID
    def never_called(chid, timeout=None):
        pytest.fail("called with a disconnected channel")
    with pytest.raises(ca.CANotConnectedError):
        never_called(ca.create_channel(MISSING_PV + ":decorated"), timeout=0.2)


def test_withMaybeConnectedCHID_calls_even_if_the_pv_does_not_connect(monkeypatch):
    monkeypatch.setattr(ca, "DEFAULT_CONNECTION_TIMEOUT", 0.2)

    @ca.withMaybeConnectedCHID
    def connected_state(chid):
        return ca.isConnected(chid)
    assert connected_state(ca.create_channel(MISSING_PV + ":maybe")) is False


def test_withMaybeConnectedCHID_connects_a_served_pv(ioc):
    @ca.withMaybeConnectedCHID
    def connected_state(chid, timeout=10):
        return ca.isConnected(chid)
    assert connected_state(ca.create_channel(ioc.pv("wf:short")), timeout=10) is True


def test_withInitialContext_attaches_a_detached_thread():
    @ca.withInitialContext
    def context_seen():
        return ca.libca.ca_current_context()

    def detached_then_decorated():
        ca.current_context()
        ca.detach_context()
        return context_seen()

    ca.initialize_libca()
    assert in_thread(detached_then_decorated) == ca.initial_context


def test_withSEVCHK_passes_eca_normal_through():
    @ca.withSEVCHK
    def fine():
        return ECA.NORMAL
    assert fine() == ECA.NORMAL


def test_withSEVCHK_raises_for_another_status():
    @ca.withSEVCHK
    def failing():
        return ECA.BADCOUNT
    with pytest.raises(ca.CASeverityException) as info:
        failing()
    assert info.value.fcn == "failing" and isinstance(info.value, ValueError)


def test_PySEVCHK_returns_the_status_when_it_is_the_expected_one():
    assert ca.PySEVCHK("pend_event", ECA.TIMEOUT, ECA.TIMEOUT) == ECA.TIMEOUT
    assert ca.PySEVCHK("put", ECA.NORMAL) == ECA.NORMAL


def test_PySEVCHK_raises_when_the_status_is_not_the_expected_one():
    with pytest.raises(ca.CASeverityException):
        ca.PySEVCHK("pend_event", ECA.NORMAL, ECA.TIMEOUT)


# ---- module settings -------------------------------------------------------------------------

def test_automonitor_length_is_an_alias_of_automonitor_maxlength():
    saved = ca.AUTOMONITOR_MAXLENGTH
    try:
        ca.AUTOMONITOR_LENGTH = 1234
        assert ca.AUTOMONITOR_MAXLENGTH == 1234
        ca.AUTOMONITOR_MAXLENGTH = 4321
        assert ca.AUTOMONITOR_LENGTH == 4321
    finally:
        ca.AUTOMONITOR_MAXLENGTH = saved


def test_default_settings_are_pyepicss():
    assert ca.PREEMPTIVE_CALLBACK is True
    assert ca.AUTO_CLEANUP is True
    assert ca.DEFAULT_CONNECTION_TIMEOUT == 2.0
    assert ca.AUTOMONITOR_MAXLENGTH == 65536
    assert ca.DEFAULT_SUBSCRIPTION_MASK == dbr.DBE_VALUE | dbr.DBE_ALARM


def test_connect_channel_without_timeout_waits_default_connection_timeout(monkeypatch):
    monkeypatch.setattr(ca, "DEFAULT_CONNECTION_TIMEOUT", 2.5)   # longer than PyEpics's 2.0
    chid = ca.create_channel(MISSING_PV + ":default-timeout")
    started = time.monotonic()
    assert ca.connect_channel(chid) is False
    assert time.monotonic() - started >= 2.5


def test_default_connection_timeout_is_named_in_a_put_error(monkeypatch):
    monkeypatch.setattr(ca, "DEFAULT_CONNECTION_TIMEOUT", 0.25)
    with pytest.raises(ca.CANotConnectedError, match="0.25"):
        ca.put(ca.create_channel(MISSING_PV + ":put-timeout"), 1)


def test_preemptive_callback_false_runs_callbacks_only_while_polling(ioc):
    script = f"""
        import json, time
        from epics import ca
        ca.PREEMPTIVE_CALLBACK = False
        ca.initialize_libca()
        chid = ca.create_channel({ioc.pv("counter")!r})
        connected = ca.connect_channel(chid, timeout=10)
        values = []
        ca.create_subscription(chid, callback=lambda value, **kw: values.append(value))
        time.sleep(0.5)                    # counter changes 5 times meanwhile, unseen
        before_poll = len(values)
        for _ in range(100):               # at most 10 s
            ca.pend_event(0.1)
            if len(values) >= 2:
                break
        print(json.dumps({{
            "preemptive": ca.libca.ca_preemtive_callback_is_enabled(),
            "connected": connected, "before_poll": before_poll, "after_poll": len(values),
            "get": ca.get(ca.create_channel({ioc.pv("wf:short")!r}), timeout=10).tolist()}}))
    """
    result = json.loads(last_line(run_python(script)))
    assert result == {"preemptive": 0, "connected": True, "before_poll": 0,
                      "after_poll": result["after_poll"], "get": [-2, -1, 0, 1, 2]}
    assert result["after_poll"] >= 2


@pytest.mark.parametrize("auto_cleanup", [True, False])
def test_auto_cleanup_finalizes_ca_at_exit_only_when_true(ioc, auto_cleanup):
    script = f"""
        import atexit
        from epics import _context, ca
        # registered before CA starts, so it runs after CA's own exit handler
        atexit.register(lambda: print("finalized at exit:", _context.is_finalized()))
        ca.AUTO_CLEANUP = {auto_cleanup}
        chid = ca.create_channel({ioc.pv("counter")!r})
        ca.create_subscription(chid, callback=lambda **kw: None)
        assert ca.connect_channel(chid, timeout=10)
    """
    assert last_line(run_python(script, timeout=30)) == f"finalized at exit: {auto_cleanup}"
