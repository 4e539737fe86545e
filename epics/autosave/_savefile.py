"""The synApps autosave save file (``.sav``), as text: write it, read it back.

A save file, as synApps' autosave writes it::

    # save/restore V5.11	Automatically generated - DO NOT MODIFY - 261204-210631
    ! 1 channel(s) not connected - or not all gets were successful
    XXX:m1.VAL 1.2345678901234
    XXX:m1.DESC Sample height
    XXX:calc.CALC$ A+B+C+D+E+F+G+H+I+J+K+L+A+B+C+D+E+F+G+H+I+J+K+L+A+B+C+D+E+F+G+H+I+J+K+L
    XXX:wave @array@ { "1" "2.5" "3" }
    #XXX:gone.VAL Search Issued
    <END>

One PV a line: its name, blanks, its value as text. An array is ``@array@ { "e1" "e2" ... }``,
each element in double quotes (``\\"`` and ``\\\\`` inside); a long string (a name ending in
``$``) is written as plain text; a PV that could not be read is commented out. The file ends with
``<END>``, so a truncated file is recognised. PyEpics's own save files (arrays written as
``@array@ [1, 2, 3]``, JSON) are read as well.

This module only turns values (already text) into lines and back; :mod:`.save_restore` does the
Channel Access part. Runs in the caller's thread.
"""
from __future__ import annotations

import datetime
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

__all__ = ["SaveFileError", "SavedValue", "format_array", "parse_value", "write_save_file",
           "read_save_file", "HEADER_VERSION", "END_MARKER", "ARRAY_MARKER"]

#: The version synApps' readers look for in the first line (this is its format V5).
HEADER_VERSION = "# save/restore V5.11"
END_MARKER = "<END>"
ARRAY_MARKER = "@array@"
NOT_CONNECTED = "Search Issued"

PathLike = Union[str, Path]


class SaveFileError(ValueError):
    """A save file that cannot be read (no ``<END>``, a malformed array...)."""


@dataclass(frozen=True)
class SavedValue:
    """One line of a save file: the PV name and its value (a str, or a list of str for an array)."""
    pvname: str
    value: Union[str, List[str]]

    @property
    def is_array(self) -> bool:
        return isinstance(self.value, list)


def _quote(element: str) -> str:
    return '"' + element.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_array(elements: Sequence[str]) -> str:
    """``['1', 'a b']`` -> ``'@array@ { "1" "a b" }'``."""
    return f"{ARRAY_MARKER} {{ {' '.join(_quote(e) for e in elements)} }}"


def _parse_braced(text: str, where: str) -> List[str]:
    """The elements of ``{ "e1" "e2" }`` (text starts at the brace)."""
    elements: List[str] = []
    index, end = 1, len(text)
    while True:
        while index < end and text[index].isspace():
            index += 1
        if index >= end:
            raise SaveFileError(f"{where}: array without its closing brace")
        if text[index] == "}":
            return elements
        if text[index] != '"':
            raise SaveFileError(f"{where}: array element not in double quotes at "
                                f"{text[index:index + 20]!r}")
        index += 1
        chars: List[str] = []
        while index < end and text[index] != '"':
            if text[index] == "\\" and index + 1 < end:
                index += 1
            chars.append(text[index])
            index += 1
        if index >= end:
            raise SaveFileError(f"{where}: array element without its closing quote")
        elements.append("".join(chars))
        index += 1


def parse_value(text: str, where: str = "value") -> Union[str, List[str]]:
    """The value written after a PV name: a str, or a list of str for an ``@array@``."""
    if not text.startswith(ARRAY_MARKER):
        return text
    body = text[len(ARRAY_MARKER):].strip()
    if body.startswith("{"):
        return _parse_braced(body, where)
    try:                                    # PyEpics writes arrays as JSON
        loaded = json.loads(body)
    except ValueError as exc:
        raise SaveFileError(f"{where}: unreadable array {body[:40]!r}: {exc}") from exc
    if not isinstance(loaded, list):
        loaded = [loaded]
    return [str(element) for element in loaded]


def _split_line(line: str) -> Tuple[str, str]:
    """``'PV  value'`` -> ``('PV', 'value')``: the first blank run separates name and value."""
    parts = line.split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def read_save_file(path: PathLike) -> Tuple[List[SavedValue], List[str]]:
    """Read a save file: ``(values, names not saved)`` in file order.

    Raises
    ------
    SaveFileError
        when the file has no ``<END>`` line (it was cut short: nothing is restored from it),
        or an array cannot be read.
    """
    values: List[SavedValue] = []
    missing: List[str] = []
    ended = False
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if line.startswith(END_MARKER):
                ended = True
                break
            if not line.strip() or line.startswith("!"):
                continue
            if line.startswith("#"):
                name, rest = _split_line(line[1:])
                if rest.strip() == NOT_CONNECTED:
                    missing.append(name)
                continue
            name, rest = _split_line(line)
            values.append(SavedValue(name, parse_value(rest, f"{path}:{number} ({name})")))
    if not ended:
        raise SaveFileError(f"save file {path} has no {END_MARKER} line: it is incomplete, "
                            "nothing restored from it")
    return values, missing


def write_save_file(path: PathLike, lines: Sequence[Tuple[str, Optional[str]]],
                    comment: str = "") -> None:
    """Write a save file; ``lines`` are ``(pvname, text)``, text None for a PV not read.

    The file is written beside its final name and renamed into place, so a reader (or a crash)
    never sees half a file.
    """
    now = datetime.datetime.now().strftime("%y%m%d-%H%M%S")
    out = [f"{HEADER_VERSION}\tAutomatically generated - DO NOT MODIFY - {now}"]
    if comment:
        out.append(f"# {comment}")
    unread = sum(1 for _, text in lines if text is None)
    if unread:
        out.append(f"! {unread} channel(s) not connected - or not all gets were successful")
    for pvname, text in lines:
        out.append(f"#{pvname} {NOT_CONNECTED}" if text is None else f"{pvname} {text}")
    out.append(END_MARKER)
    target = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=str(target.parent or "."))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write("\n".join(out) + "\n")
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
