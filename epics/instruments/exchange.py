"""The JSON form of instruments and positions, for export and import.

A document::

    {"format": "epics.instruments", "version": 1,
     "instruments": [
        {"name": "slits",
         "pvs": [{"pvname": "13IDA:m1", "kind": "motor", "tolerance": null}, ...],
         "positions": [{"name": "open", "saved": 1733340000.0,
                        "values": {"13IDA:m1": 1.25, ...}}, ...]}]}

``saved`` is POSIX time. :func:`parse` checks a whole document before anything is imported, and
names what is wrong.

Threads: any (no I/O).
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

from .model import Instrument, Position, PvEntry

__all__ = ["FORMAT", "VERSION", "document", "parse"]

FORMAT = "epics.instruments"
VERSION = 1

Content = List[Tuple[Instrument, List[Position]]]


def document(content: Sequence[Tuple[Instrument, Sequence[Position]]]) -> Dict[str, Any]:
    """The JSON-able document of ``(instrument, positions)`` pairs."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "instruments": [
            {"name": instrument.name,
             "pvs": [{"pvname": e.pvname, "kind": e.kind, "tolerance": e.tolerance}
                     for e in instrument.pvs],
             "positions": [{"name": p.name, "saved": p.saved, "values": dict(p.values)}
                           for p in positions]}
            for instrument, positions in content],
    }


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(f"not an instruments document: {message}")


def parse(data: Any) -> Content:
    """The instruments and positions of a document; ValueError naming the first problem."""
    _require(isinstance(data, dict), "the top level must be an object")
    _require(data.get("format") == FORMAT, f"'format' must be {FORMAT!r}")
    _require(isinstance(data.get("version"), int) and 1 <= data["version"] <= VERSION,
             f"'version' must be 1..{VERSION} (this epicsca reads up to {VERSION})")
    items = data.get("instruments")
    _require(isinstance(items, list), "'instruments' must be a list")
    content: Content = []
    seen = set()
    for item in items:
        _require(isinstance(item, dict) and isinstance(item.get("name"), str)
                 and item["name"].strip(), "every instrument needs a 'name'")
        name = item["name"].strip()
        _require(name not in seen, f"instrument {name!r} appears twice")
        seen.add(name)
        try:
            entries = tuple(PvEntry(pv["pvname"], pv.get("kind", "pv"), pv.get("tolerance"))
                            for pv in item.get("pvs", []))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an instruments document: instrument {name!r}: "
                             f"bad PV entry ({exc})") from exc
        positions: List[Position] = []
        for raw in item.get("positions", []):
            _require(isinstance(raw, dict) and isinstance(raw.get("name"), str)
                     and raw["name"].strip() and isinstance(raw.get("values"), dict)
                     and isinstance(raw.get("saved", 0.0), (int, float)),
                     f"instrument {name!r}: every position needs a 'name' and 'values'")
            _require(raw["name"].strip() not in {p.name for p in positions},
                     f"instrument {name!r}: position {raw['name']!r} appears twice")
            positions.append(Position(name, raw["name"].strip(), float(raw.get("saved", 0.0)),
                                      dict(raw["values"])))
        content.append((Instrument(name, entries), positions))
    return content
