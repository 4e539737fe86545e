"""An areaDetector image plugin (NDStdArrays) as a Device: PyEpics's ``AD_ImagePlugin``, plus
:meth:`~AD_ImagePlugin.get_image`, the last frame as a numpy array of its own shape.

    >>> image = AD_ImagePlugin('XXX:image1:')
    >>> frame = image.get_image()         # (SizeY, SizeX) for Mono, (SizeY, SizeX, 3) for RGB1
    >>> frame.shape, image.UniqueId_RBV

Runs in the caller's thread.
"""
from __future__ import annotations

from typing import List, Optional

import numpy as np

from ..device import Device
from ._areadetector import ADDevice

__all__ = ["AD_ImagePlugin", "Device"]


class AD_ImagePlugin(ADDevice):  # noqa: N801 (PyEpics's name)
    """The PVs of an image plugin, ``<prefix><Name>``."""

    attrs = ("ArrayData", "UniqueId", "UniqueId_RBV", "NDimensions", "NDimensions_RBV",
             "ArraySize0", "ArraySize0_RBV", "ArraySize1", "ArraySize1_RBV",
             "ArraySize2", "ArraySize2_RBV", "ColorMode", "ColorMode_RBV")

    def dimensions(self) -> List[int]:
        """The last frame's NDArray dimensions, fastest first (``[X, Y]``, ``[3, X, Y]``...)."""
        ndims = int(self.PV("NDimensions_RBV").get(use_monitor=False) or 0)
        sizes = [self.PV(f"ArraySize{i}_RBV").get(use_monitor=False) for i in range(3)]
        return [int(size) for size in sizes[:ndims] if size]

    def get_image(self, timeout: Optional[float] = None) -> np.ndarray:
        """The last frame, shaped as numpy orders it: ``(Y, X)`` for Mono, ``(Y, X, 3)`` for
        RGB1 (NDArray dimensions reversed, as C order wants; not in PyEpics).

        Read while the detector is idle: during acquisition the sizes and the pixels may come
        from two different frames.

        Raises
        ------
        ValueError
            when the plugin has no frame yet, or ArrayData holds fewer pixels than the sizes
            say (the message names the PV).
        """
        dims = self.dimensions()
        pixels = int(np.prod(dims)) if dims else 0
        if pixels == 0:
            raise ValueError(f"{self._prefix}ArrayData: no frame yet (NDimensions_RBV is 0)")
        data = self.PV("ArrayData").get(count=pixels, timeout=timeout, use_monitor=False)
        data = np.asarray(data if data is not None else [])
        if data.size < pixels:
            raise ValueError(f"{self._prefix}ArrayData holds {data.size} values, the frame "
                             f"{dims} needs {pixels}")
        return data[:pixels].reshape(dims[::-1])
