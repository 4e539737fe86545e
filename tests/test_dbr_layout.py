"""The ctypes layouts and codes of epics.dbr checked against the C headers and libca itself.

A small C program, generated from the ctypes classes and compiled at test time against the
epicscorelibs headers, prints ``sizeof`` and ``offsetof`` of every member and the value of every
constant; libca's exported ``dbr_value_offset``, ``dbr_size`` and ``dbr_value_size`` tables are read
with ctypes. No IOC is needed.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from typing import Dict, List

import pytest

from epics import dbr

N_CODES = dbr.LAST_BUFFER_TYPE + 1


def all_structs() -> List[type]:
    """Every distinct ctypes Structure of the module, each once."""
    seen: List[type] = []
    extra = [dbr.epicsTimeStamp, dbr.event_handler_args, dbr.connection_handler_args,
             dbr.access_rights_handler_args, dbr.ca_access_rights]
    for cls in [row.ctype for row in dbr.DBR_TYPES] + extra:
        if issubclass(cls, ctypes.Structure) and cls not in seen:
            seen.append(cls)
    return seen


def c_source() -> str:
    """The C program: one printf per size, offset and constant, as 'key value' lines."""
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include <string.h>',
             '#include "cadef.h"', '#include "db_access.h"', '',
             'int main(void) {']
    for cls in all_structs():
        name = cls.__name__
        lines.append(f'    printf("sizeof {name} %u\\n", (unsigned) sizeof(struct {name}));')
        for field in cls._fields_:
            if len(field) == 3:  # a bit field: no offsetof; checked by test_access_rights_bits
                continue
            member = field[0]
            lines.append(f'    printf("offsetof {name}.{member} %u\\n", '
                         f'(unsigned) offsetof(struct {name}, {member}));')
    for row in dbr.DBR_TYPES:
        lines.append(f'    printf("code {row.name} %d\\n", (int) DBR_{row.name});')
    constants = {"DBE_VALUE": "DBE_VALUE", "DBE_LOG": "DBE_LOG", "DBE_ARCHIVE": "DBE_ARCHIVE",
                 "DBE_ALARM": "DBE_ALARM", "DBE_PROPERTY": "DBE_PROPERTY",
                 "OP_CONN_UP": "CA_OP_CONN_UP", "OP_CONN_DOWN": "CA_OP_CONN_DOWN",
                 "CS_NEVER_CONN": "cs_never_conn", "CS_PREV_CONN": "cs_prev_conn",
                 "CS_CONN": "cs_conn", "CS_CLOSED": "cs_closed",
                 "MAX_STRING_SIZE": "MAX_STRING_SIZE", "MAX_UNITS_SIZE": "MAX_UNITS_SIZE",
                 "MAX_ENUM_STRING_SIZE": "MAX_ENUM_STRING_SIZE",
                 "MAX_ENUM_STATES": "MAX_ENUM_STATES", "LAST_BUFFER_TYPE": "LAST_BUFFER_TYPE",
                 "ECA_NORMAL": "ECA_NORMAL", "ECA_TIMEOUT": "ECA_TIMEOUT",
                 "ECA_IODONE": "ECA_IODONE", "ECA_BADCHID": "ECA_BADCHID",
                 "ECA_ISATTACHED": "ECA_ISATTACHED"}
    for ours, theirs in constants.items():
        lines.append(f'    printf("const {ours} %d\\n", (int) ({theirs}));')
    lines += ['    {',
              '        caar rights; unsigned bits = 0;',
              '        memset(&rights, 0, sizeof rights);',
              '        rights.write_access = 1;',
              '        memcpy(&bits, &rights, sizeof bits);',
              '        printf("bits write_access %u\\n", bits);',
              '    }',
              '    return 0;', '}', '']
    return "\n".join(lines)


@pytest.fixture(scope="module")
def c_facts(tmp_path_factory) -> Dict[str, int]:
    """Compile and run the C program; return its 'key value' lines as a dict."""
    compiler = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler (gcc or cc) on PATH: cannot check the layouts against the "
                    "headers")
    epicscorelibs_path = pytest.importorskip("epicscorelibs.path")
    include = epicscorelibs_path.include_path
    # the wheel flattens its headers; a base build keeps the OS and compiler ones in subfolders
    os_name = {"linux": "Linux", "darwin": "Darwin", "win32": "WIN32"}.get(sys.platform, "")
    subfolders = [("os", os_name), ("os", "default"), ("compiler", "gcc"), ("compiler", "clang"),
                  ("compiler", "default")]
    include_dirs = [include] + [os.path.join(include, *sub) for sub in subfolders
                                if os.path.isdir(os.path.join(include, *sub))]
    folder = tmp_path_factory.mktemp("dbr_layout")
    source, program = folder / "layout.c", folder / "layout"
    source.write_text(c_source())
    build = subprocess.run([compiler, *[f"-I{d}" for d in include_dirs], str(source), "-o",
                            str(program)], capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, f"compiling {source} failed:\n{build.stderr}"
    run = subprocess.run([str(program)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    facts = {}
    for line in run.stdout.splitlines():
        kind, key, value = line.split()
        facts[f"{kind} {key}"] = int(value)
    return facts


@pytest.mark.parametrize("cls", all_structs(), ids=lambda cls: cls.__name__)
def test_struct_size_and_offsets_match_c(cls, c_facts):
    assert ctypes.sizeof(cls) == c_facts[f"sizeof {cls.__name__}"]
    for field in cls._fields_:
        if len(field) == 2:
            name = field[0]
            assert getattr(cls, name).offset == c_facts[f"offsetof {cls.__name__}.{name}"], name


def test_type_codes_match_header(c_facts):
    for row in dbr.DBR_TYPES:
        assert row.code == c_facts[f"code {row.name}"], row.name


def test_constants_match_headers(c_facts):
    for key, value in c_facts.items():
        if key.startswith("const "):
            name = key.split()[1]
            assert getattr(dbr, name) == value, name


def test_access_rights_bits(c_facts):
    # caar is two one-bit fields in an unsigned int: same bit as the compiler puts write_access
    rights = dbr.ca_access_rights(write_access=1)
    assert int.from_bytes(bytes(rights), sys.byteorder) == c_facts["bits write_access"]
    args = dbr.access_rights_handler_args(ar=dbr.ca_access_rights(read_access=1, write_access=1))
    assert args.access == 3  # PyEpics's combined view: bit 0 read, bit 1 write


@pytest.mark.parametrize("cls", [row.ctype for row in dbr.DBR_TYPES
                                 if issubclass(row.ctype, ctypes.Structure)],
                         ids=lambda cls: cls.__name__)
def test_dbr_structs_have_no_hidden_padding(cls):
    """db_access.h declares every alignment byte (RISC_pad); ours must too, so the members tile the
    struct exactly and `value` is the last member (arrays continue after it)."""
    position = 0
    for name, member_type in cls._fields_:
        assert getattr(cls, name).offset == position, f"gap before {cls.__name__}.{name}"
        position += ctypes.sizeof(member_type)
    assert position == ctypes.sizeof(cls)
    assert cls._fields_[-1][0] == "value"


@pytest.fixture(scope="module")
def libca():
    from epics._libca import LibcaNotFound, load_libca
    try:
        return load_libca()
    except LibcaNotFound as exc:
        pytest.skip(f"libca not available: {exc}")


def test_value_offset_matches_libca(libca):
    # const unsigned short dbr_value_offset[LAST_BUFFER_TYPE+1]
    offsets = (ctypes.c_ushort * N_CODES).in_dll(libca, "dbr_value_offset")
    assert [dbr.value_offset(code) for code in range(N_CODES)] == list(offsets)


def test_dbr_size_matches_libca(libca):
    # const unsigned short dbr_size[], dbr_value_size[]: dbr_size_n(T, n) = size + (n-1)*value_size
    sizes = (ctypes.c_ushort * N_CODES).in_dll(libca, "dbr_size")
    value_sizes = (ctypes.c_ushort * N_CODES).in_dll(libca, "dbr_value_size")
    for code in range(N_CODES):
        assert dbr.dbr_size(code, 1) == sizes[code], dbr.Name(code)
        for count in (0, 2, 1000):
            assert dbr.dbr_size(code, count) == sizes[code] + (count - 1) * value_sizes[code]
        assert dbr.dbr_size(code, -1) == sizes[code]


def test_native_types_match_libca_value_sizes(libca):
    value_sizes = (ctypes.c_ushort * N_CODES).in_dll(libca, "dbr_value_size")
    for code in range(N_CODES):
        assert dbr.native_dtype(code).itemsize == value_sizes[code], dbr.Name(code)
