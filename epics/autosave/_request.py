"""Read synApps autosave request files (``.req``): the PV names to save, macros expanded.

A request file lists one PV name per line; ``#`` starts a comment line. A line
``file other.req P=XXX:,M=m1`` includes another request file with those macro values (the file
name may be quoted, macros are separated by commas, and the values may use the including file's
macros: ``file motor.req P=$(P),M=m2``). Names use macros as ``$(NAME)``, ``${NAME}`` or
``$(NAME=default)``. An included file is looked up next to the file that includes it, then in
the directories of ``search_path``.

A macro without a value stays in the name as written (it is logged), as in PyEpics and in
synApps' macLib; an include that cannot be found, or that includes itself, raises
:class:`RequestFileError` naming the file and the line.

Runs in the caller's thread; reads files only.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

__all__ = ["RequestFileError", "read_request_file", "expand_macros", "parse_macros"]

log = logging.getLogger("epics.autosave")

PathLike = Union[str, Path]

#: Deepest chain of ``file`` includes (a guard against runaway recursion).
MAX_INCLUDE_DEPTH = 32

# $(NAME), ${NAME}, $(NAME=default), ${NAME=default}
_MACRO = re.compile(r"\$(?:\((?P<p>[^()=]+)(?:=(?P<pd>[^()]*))?\)"
                    r"|\{(?P<b>[^{}=]+)(?:=(?P<bd>[^{}]*))?\})")
_FILE_LINE = re.compile(r"^file\s+(?:\"(?P<quoted>[^\"]+)\"|(?P<bare>[^\s,\"]+))"
                        r"\s*,?\s*(?P<macros>.*)$")


class RequestFileError(ValueError):
    """A request file that cannot be read: missing include, include cycle, bad ``file`` line."""


def expand_macros(text: str, macros: Mapping[str, str]) -> str:
    """Replace ``$(NAME)``/``${NAME}`` (with optional ``=default``) by their values.

    A macro with neither a value nor a default is left as written.
    """
    def replace(match: "re.Match[str]") -> str:
        name = (match.group("p") or match.group("b")).strip()
        default = match.group("pd") if match.group("p") else match.group("bd")
        if name in macros:
            return macros[name]
        if default is not None:
            return default
        log.warning("macro $(%s) has no value in %r: left as it is", name, text)
        return match.group(0)
    return _MACRO.sub(replace, text)


def parse_macros(text: str, outer: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """``'P=XXX:,M=m1'`` -> ``{'P': 'XXX:', 'M': 'm1'}``; values are expanded with ``outer``.

    Separators are commas (synApps), semicolons or blanks; a value may be quoted.
    """
    outer = outer or {}
    found: Dict[str, str] = {}
    for item in re.findall(r"[^\s,;=]+\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s,;]*)", text):
        name, _, value = item.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        found[name.strip()] = expand_macros(value, outer)
    return found


def _find_include(name: str, including: Path, search_path: Sequence[Path]) -> Path:
    candidate = Path(name)
    if candidate.is_absolute():
        return candidate
    for folder in [including.parent, *search_path]:
        if (folder / candidate).is_file():
            return folder / candidate
    return including.parent / candidate


def _read(path: Path, macros: Mapping[str, str], search_path: Sequence[Path],
          chain: Tuple[Path, ...], names: List[str]) -> None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        where = f" (included from {chain[-1]})" if chain else ""
        raise RequestFileError(f"cannot read request file {path}{where}: {exc}") from exc
    chain = chain + (path.resolve(),)
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.split(None, 1)[0] == "file":
            match = _FILE_LINE.match(line)
            if match is None:
                raise RequestFileError(f"{path}:{number}: a 'file' line needs a file name: {raw!r}")
            target = expand_macros(match.group("quoted") or match.group("bare"), macros)
            include = _find_include(target, path, search_path)
            if include.resolve() in chain:
                raise RequestFileError(f"{path}:{number}: {include} includes itself "
                                       f"(through {' -> '.join(map(str, chain))})")
            if len(chain) >= MAX_INCLUDE_DEPTH:
                raise RequestFileError(f"{path}:{number}: more than {MAX_INCLUDE_DEPTH} nested "
                                       "'file' includes")
            inner = dict(macros)
            inner.update(parse_macros(match.group("macros"), macros))
            _read(include, inner, search_path, chain, names)
            continue
        names.append(expand_macros(line.split()[0], macros))


def read_request_file(request_file: PathLike, macros: Optional[Mapping[str, str]] = None,
                      search_path: Iterable[PathLike] = ()) -> List[str]:
    """The PV names a request file asks for, in order, includes and macros expanded.

    Parameters
    ----------
    request_file : str or Path
        The ``.req`` file.
    macros : dict, optional
        Macro values for the top file (``{'P': 'XXX:'}``).
    search_path : sequence of str or Path
        More directories where included files are looked for.

    Raises
    ------
    RequestFileError
        when a file cannot be read, includes itself, or has a malformed ``file`` line.
    """
    names: List[str] = []
    _read(Path(request_file), dict(macros or {}), [Path(p) for p in search_path], (), names)
    return names
