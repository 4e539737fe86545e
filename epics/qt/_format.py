"""Value formatting shared by the widgets (no Qt): precision, units, limits.

Threads: any (pure functions).
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

__all__ = ["format_value", "control_limits", "precision_of"]


def precision_of(data: Dict[str, Any], default: int = 3) -> int:
    precision = data.get("precision")
    try:
        return max(0, int(precision)) if precision is not None else default
    except (TypeError, ValueError):
        return default


def format_value(data: Dict[str, Any], show_units: bool = True) -> str:
    """The PV's char_value (already formatted with its precision, enum state names...) and, for
    numbers, its units."""
    text = data.get("char_value")
    if text is None:
        value = data.get("value")
        text = "" if value is None else str(value)
    units = data.get("units")
    if show_units and units and isinstance(data.get("value"), (int, float)) \
            and not data.get("enum_strs"):
        text = f"{text} {units}"
    return text


def control_limits(data: Dict[str, Any]) -> Optional[Tuple[float, float]]:
    """(low, high) from the PV's control limits, or None when the PV sets none (both 0)."""
    low, high = data.get("lower_ctrl_limit"), data.get("upper_ctrl_limit")
    try:
        low, high = float(low), float(high)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        return None
    return low, high
