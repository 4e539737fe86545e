"""``epics.utils`` and the PyEpics names of ``epics.ca`` that scripts (and PyEpics's own tests)
import: text and bytes at the CA boundary, the libca path helpers, PyEpics's flags and markers."""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from epics import ca, utils


def test_str2bytes_and_bytes2str_round_trip_with_the_io_encoding():
    assert utils.IOENCODING == os.environ.get(
        "PYEPICS_ENCODING", os.environ.get("PYTHONIOENCODING", "utf-8"))
    assert utils.str2bytes("Cu foil µm") == "Cu foil µm".encode(utils.IOENCODING)
    assert utils.str2bytes(b"raw") == b"raw"
    assert utils.bytes2str("Cu foil µm".encode(utils.IOENCODING)) == "Cu foil µm"
    assert utils.bytes2str("text") == "text"
    assert utils.bytes2str(3.5) == "3.5"


def test_bytes2str_of_invalid_bytes_raises_without_charset_normalizer():
    try:
        import charset_normalizer  # noqa: F401
    except ImportError:
        with pytest.raises(UnicodeDecodeError):
            utils.bytes2str(b"\xff\xfe\xfa")
    else:
        assert isinstance(utils.bytes2str(b"\xff\xfe\xfa"), str)


def test_the_encoding_comes_from_PYEPICS_ENCODING_first():
    code = "from epics import utils; print(utils.IOENCODING, utils.str2bytes('é'))"
    env = dict(os.environ, PYEPICS_ENCODING="latin-1", PYTHONIOENCODING="utf-8")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.split() == ["latin-1", "b'\\xe9'"], out.stderr


def test_strjoin_joins_text_and_stops_bytes_at_the_first_nul():
    assert utils.strjoin("", [b"a", b"b", b"\x00", b"c"]) == "ab"
    assert utils.strjoin(b"-", ["x", "y"]) == "x-y"
    assert utils.strjoin(",", []) == ""


def test_clib_search_path_names_the_platform_folder():
    path = utils.clib_search_path("ca")
    if sys.platform.startswith("linux"):
        assert path.endswith("/libca.so") and path.startswith(("linux64", "linux32", "linuxarm"))


def test_ca_keeps_pyepics_names():
    assert ca.HAS_NUMPY is True
    assert repr(ca.GET_PENDING) == "GET_PENDING"
    assert ca.str2bytes is utils.str2bytes and ca.bytes2str is utils.bytes2str
    assert ca.IOENCODING == utils.IOENCODING
    assert ca.clib_search_path is utils.clib_search_path
    assert ca.find_lib() == ca.find_libca() and os.path.isfile(ca.find_lib())
    assert ca.find_lib("Com") == ca.find_libCom()


def test_ca_printf_is_the_handler_replace_printf_handler_installs():
    ca.replace_printf_handler(None)
    try:
        assert isinstance(ca.ca_printf, ctypes._CFuncPtr)
    finally:
        ca.replace_printf_handler(None if not ca.WITH_CA_MESSAGES else sys.stderr.write)
