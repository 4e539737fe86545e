"""Glob-like PV name groups: ``S:m{1..4}.RBV``, ``X:{a,b}``, ``T[1-3]`` expand to lists of names.

Channel Access cannot list the PVs of a network, so a group is a pattern expanded here into the
names it stands for (brace lists, numeric brace ranges with zero padding, and one-character
classes), not a search. Runs on whatever thread calls it (the engine's at start-up).
"""
from __future__ import annotations

import re
from typing import List

__all__ = ["expand", "NamePatternError", "MAX_EXPANSION"]

#: The most names one pattern may expand to (a typo like ``{1..1000000}`` is an error, not a hang).
MAX_EXPANSION = 100_000

_RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)$")


class NamePatternError(ValueError):
    """A PV name pattern that cannot be expanded (unbalanced braces, too many names...)."""


def _choices_of_braces(body: str, pattern: str) -> List[str]:
    found = _RANGE.match(body)
    if found:
        first, last = found.group(1), found.group(2)
        width = len(first) if first.startswith("0") and len(first) > 1 else 0
        start, stop = int(first), int(last)
        step = 1 if stop >= start else -1
        if abs(stop - start) + 1 > MAX_EXPANSION:
            raise NamePatternError(f"{pattern!r}: range {body} has too many names")
        return [str(n).zfill(width) for n in range(start, stop + step, step)]
    return body.split(",")


def _choices_of_class(body: str, pattern: str) -> List[str]:
    chars: List[str] = []
    index = 0
    while index < len(body):
        if index + 2 < len(body) and body[index + 1] == "-":
            low, high = body[index], body[index + 2]
            if ord(high) < ord(low):
                raise NamePatternError(f"{pattern!r}: class [{body}] has a reversed range")
            chars.extend(chr(c) for c in range(ord(low), ord(high) + 1))
            index += 3
        else:
            chars.append(body[index])
            index += 1
    if not chars:
        raise NamePatternError(f"{pattern!r}: empty class []")
    return chars


def expand(pattern: str) -> List[str]:
    """All the names a pattern stands for, in order; a plain name gives itself.

    >>> expand("S:m{1..3}.RBV")
    ['S:m1.RBV', 'S:m2.RBV', 'S:m3.RBV']
    >>> expand("T[ab]:{x,y}")
    ['Ta:x', 'Ta:y', 'Tb:x', 'Tb:y']
    """
    pattern = pattern.strip()
    if not pattern:
        raise NamePatternError("empty PV name")
    results = [""]
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char in "{[":
            closing = "}" if char == "{" else "]"
            end = pattern.find(closing, index + 1)
            if end < 0:
                raise NamePatternError(f"{pattern!r}: {char!r} at {index} is never closed")
            body = pattern[index + 1:end]
            if char == "{":
                choices = _choices_of_braces(body, pattern)
            else:
                choices = _choices_of_class(body, pattern)
            if len(results) * len(choices) > MAX_EXPANSION:
                raise NamePatternError(f"{pattern!r} expands to more than {MAX_EXPANSION} names")
            results = [done + choice for done in results for choice in choices]
            index = end + 1
        elif char in "}]":
            raise NamePatternError(f"{pattern!r}: {char!r} at {index} was never opened")
        else:
            results = [done + char for done in results]
            index += 1
    for name in results:
        if any(c.isspace() for c in name):
            raise NamePatternError(f"{pattern!r}: PV names may not contain white space")
    return results
