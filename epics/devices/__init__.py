"""Devices for common EPICS records, built on :class:`epics.device.Device`.

Base records: :class:`ai`, :class:`ao`, :class:`bi`, :class:`bo`. synApps records:
:class:`Scaler`, :class:`MCA` (alias :class:`Mca`) with its :class:`ROI`s, :class:`DXP`,
:class:`Struck` (SIS3820 multichannel scaler) and :class:`Transform`. The names and methods are
PyEpics 3.5's.
"""
from __future__ import annotations

from .ad_base import AD_Camera
from .ad_fileplugin import AD_FilePlugin
from .ad_image import AD_ImagePlugin
from .ad_overlay import AD_OverlayPlugin
from .ad_perkinelmer import AD_PerkinElmer
from .ai import ai
from .ao import ao
from .bi import bi
from .bo import bo
from .mca import DXP, MCA, ROI, Mca
from .scaler import Scaler
from .scan import Scan
from .srs570 import SRS570
from .struck import Struck
from .transform import Transform
from .xmap import MultiXMAP
from .xspress3 import Xspress3, Xspress310

__all__ = ["ai", "ao", "bi", "bo", "Scaler", "Struck", "MCA", "Mca", "ROI", "DXP", "Transform",
           "AD_Camera", "AD_FilePlugin", "AD_ImagePlugin", "AD_OverlayPlugin", "AD_PerkinElmer",
           "Scan", "SRS570", "Xspress3", "Xspress310", "MultiXMAP"]
