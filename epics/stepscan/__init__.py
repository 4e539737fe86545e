"""Step scans on the PV and device layers, as in the talk: "similar to Spec or the EPICS
sscan record", in pure Python.

- :class:`StepScan`: positioners (each with the full array of its positions), triggers,
  counters, detectors, extra PVs, ``pre_scan``/``post_scan`` hooks, breakpoints;
- :class:`SpecScan`: SPEC's ``ascan``, ``a2scan``, ``a3scan``, ``dscan``, ``d2scan``,
  ``d3scan``, ``lup``, ``mesh``, with a configuration saved as INI (or TOML);
- a real SPEC data file (:class:`SpecWriter`); pause, resume, abort, Ctrl-C;
- the scan server (``python -m epics.stepscan server --db URL``): see `epics.stepscan.server`.

Needs only the library below it (install extra ``scan`` for PostgreSQL). Importing it starts
nothing.
"""
from __future__ import annotations

from .counter import Counter
from .detectors import (AreaDetector, Detector, McaDetector, MultiMcaDetector, ScalerDetector,
                        make_detector)
from .errors import ConnectionLost, DetectorTimeout, MotionError, ScanAborted, ScanError
from .positioner import Positioner
from .result import ScanResult
from .scan import StepScan
from .specfile import SpecWriter
from .specscan import SpecScan
from .trigger import Trigger

__all__ = ['StepScan', 'SpecScan', 'ScanResult', 'Positioner', 'Counter', 'Trigger', 'Detector',
           'ScalerDetector', 'McaDetector', 'MultiMcaDetector', 'AreaDetector', 'make_detector',
           'SpecWriter', 'ScanError', 'ScanAborted', 'MotionError', 'DetectorTimeout',
           'ConnectionLost']
