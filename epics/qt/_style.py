"""The control-room look in one place: alarm colours and the style sheet built from them.

Threads: GUI thread only (style sheets are set on widgets).

Widgets carry the dynamic properties ``connected`` (bool) and ``severity`` (0..3); the style sheet
selects on them, so a user style sheet can re-theme every epics.qt widget the same way.
"""
from __future__ import annotations

from typing import Dict

__all__ = ["SEVERITY_COLORS", "DISCONNECTED_COLOR", "SEVERITY_NAMES", "alarm_style_sheet",
           "DISCONNECTED_TEXT"]

NO_ALARM, MINOR, MAJOR, INVALID = range(4)
SEVERITY_NAMES = ("NO_ALARM", "MINOR", "MAJOR", "INVALID")
#: Border and text colour per severity (NO_ALARM: none, the widget's own look).
SEVERITY_COLORS: Dict[int, str] = {MINOR: "#e6b800", MAJOR: "#e00000", INVALID: "#c000c0"}
#: A disconnected widget: grey dashed border, grey text on a hatched-looking grey background.
DISCONNECTED_COLOR = "#7f7f7f"
DISCONNECTED_BACKGROUND = "#d9d9d9"
#: What a text widget shows instead of a value while its PV is disconnected.
DISCONNECTED_TEXT = "disconnected"


def alarm_style_sheet(class_name: str, border: bool = True, text: bool = True) -> str:
    """The style sheet for one widget class: alarm border and/or text colour by severity, and
    the disconnected look (always shown, so a stale value never looks live)."""
    rules = []
    for severity, color in SEVERITY_COLORS.items():
        parts = []
        if border:
            parts.append(f"border: 2px solid {color};")
        if text:
            parts.append(f"color: {color};")
        rules.append(f'{class_name}[connected="true"][severity="{severity}"] '
                     f'{{ {" ".join(parts)} }}')
    rules.append(f'{class_name}[connected="false"] {{ border: 2px dashed {DISCONNECTED_COLOR}; '
                 f'color: {DISCONNECTED_COLOR}; background-color: {DISCONNECTED_BACKGROUND}; }}')
    return "\n".join(rules)
