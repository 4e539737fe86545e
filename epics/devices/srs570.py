"""The Stanford Research Systems SR570 current preamplifier (synApps ip SR570 database) as a
Device: PyEpics's ``SRS570``.

    >>> amp = SRS570('XXX:A1')
    >>> amp.set_sensitivity(200, 'nA/V')     # and the input offset to 20 nA
    >>> amp.increase_sensitivity()           # 100 nA/V
    >>> amp.decrease_sensitivity()           # 200 nA/V again

The sensitivity is a number of ``VALID_STEPS`` times a unit of ``VALID_UNITS``; one step up or
down moves along 1, 2, 5, 10 ... 500 pA/V, 1 nA/V ... 500 mA/V, stopping at either end. Runs in
the caller's thread.
"""
from __future__ import annotations

import logging
from typing import Optional, Tuple

from ..device import Device

__all__ = ["SRS570", "VALID_STEPS", "VALID_UNITS", "Device"]

log = logging.getLogger("epics.devices.srs570")

VALID_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500]
VALID_UNITS = ["pA/V", "nA/V", "uA/V", "mA/V"]


def _offset_for(step: int, unit: int) -> Tuple[int, int]:
    """The input offset (step, unit) a tenth of the sensitivity (step, unit): 200 nA/V gives
    20 nA; below 10 pA/V the smallest offset, 1 pA (PyEpics wrote a unit of -1 there)."""
    if step >= 3:
        return step - 3, unit
    if unit == 0:
        return 0, 0
    return step + 6, unit - 1


class SRS570(Device):
    """The SR570's PVs ``<prefix><name>`` (``sens_num``, ``sens_unit``, ``offset_num``...).

    Creating one sets the amplifier's initial state (:meth:`initialize`), as in PyEpics.
    """

    attrs = ("sens_num", "sens_unit", "offset_num", "offset_unit", "offset_sign", "offset_on",
             "off_u_put", "bias_put", "gain_mode", "filter_type", "invert_on", "init.PROC")
    _nonpvs = ("_prefix", "_pvs", "_delim", "_nchan", "_chans")

    def __init__(self, prefix: str) -> None:
        super().__init__(prefix, delim="", attrs=self.attrs, mutable=False)
        self.initialize()

    def initialize(self, bias: float = 0, gain_mode: int = 0, filter_type: int = 0,
                   invert: bool = False) -> None:
        """Set bias voltage, gain mode (0: low noise), filter (0: none) and inversion."""
        self.put("gain_mode", gain_mode)
        self.put("filter_type", filter_type)
        self.put("invert_on", 1 if invert else 0)
        self.put("bias_put", bias)

    def set_sensitivity(self, value: int, units: str, offset: Optional[float] = None,
                        scale_offset: bool = True) -> None:
        """Set the sensitivity to ``value`` ``units`` (e.g. 200, 'nA/V'), the input offset to a
        tenth of it (unless ``scale_offset`` is False), then tell the amplifier (``init``).

        An invalid value or unit is logged, naming the valid ones, and nothing is written
        (PyEpics printed 'invalid input').
        """
        if value not in VALID_STEPS or units not in VALID_UNITS:
            log.error("%s: invalid sensitivity %r %r: the value must be one of %s and the "
                      "unit one of %s", self._prefix, value, units, VALID_STEPS, VALID_UNITS)
            return
        step, unit = VALID_STEPS.index(value), VALID_UNITS.index(units)
        self.put("sens_num", step, wait=True)
        self.put("sens_unit", unit, wait=True)
        if scale_offset:
            offset_step, offset_unit = _offset_for(step, unit)
            self.put("offset_num", offset_step, wait=True)
            self.put("offset_unit", offset_unit, wait=True)
        if offset is not None:
            self.set_offset(offset)
        self.put("init.PROC", 1, wait=True)

    def set_offset(self, value: float) -> None:
        """Set the fine input offset (``off_u_put``)."""
        self.put("off_u_put", value)

    def _step(self) -> Tuple[int, int]:
        return (int(self.PV("sens_num").get(use_monitor=False)),
                int(self.PV("sens_unit").get(use_monitor=False)))

    def increase_sensitivity(self) -> None:
        """One step more sensitive (fewer A/V); at 1 pA/V it stays."""
        step, unit = self._step()
        index = max(unit * len(VALID_STEPS) + step - 1, 0)
        self.set_sensitivity(VALID_STEPS[index % 9], VALID_UNITS[index // 9])

    def decrease_sensitivity(self) -> None:
        """One step less sensitive (more A/V); at 500 mA/V it stays."""
        step, unit = self._step()
        index = min(unit * len(VALID_STEPS) + step + 1, len(VALID_STEPS) * len(VALID_UNITS) - 1)
        self.set_sensitivity(VALID_STEPS[index % 9], VALID_UNITS[index // 9])
