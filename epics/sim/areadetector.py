"""A simulated areaDetector: a camera (``cam1:``), the image plugin (``image1:``) and a ROI
plugin (``ROI1:``), served by caproto, producing RGB frames (1360x1024 by default).

Command line (opt-in: nothing else starts it)::

    python -m epics.sim.areadetector --port 5064 --prefix sim:ad1: [--width 1360 --height 1024]

Prints ``READY`` once serving; stops on SIGINT/SIGTERM. Served PVs (``P`` is the prefix):

* ``P cam1:`` Acquire (Done/Acquire) and Acquire_RBV, DetectorState_RBV, AcquireTime,
  AcquirePeriod, Gain, TriggerMode (Internal/External), ColorMode (Mono/Bayer/RGB1...), each
  with its ``_RBV``; ArrayCounter_RBV, ArrayRate_RBV, MaxSizeX_RBV, MaxSizeY_RBV,
  Manufacturer_RBV, Model_RBV.
* ``P ROI1:`` MinX, MinY, SizeX, SizeY (and ``_RBV``), EnableCallbacks (Disable/Enable).
* ``P image1:`` ArrayData (8-bit), ArraySize0_RBV..ArraySize2_RBV, NDimensions_RBV,
  ColorMode_RBV, UniqueId_RBV, ArrayCounter_RBV, EnableCallbacks.

The image plugin shows the camera frame cut by the ROI (when the ROI plugin is enabled), with
areaDetector's dimension order (RGB1: ArraySize0 = 3, ArraySize1 = width, ArraySize2 = height;
mono: ArraySize0 = width, ArraySize1 = height). Frames are cheap: a few are drawn at start-up and
served in turn; the gain is applied through a 256-entry lookup table. In Internal trigger mode
frames come every ``max(AcquireTime, AcquirePeriod)`` seconds; in External mode none come.

Threads: none; everything runs on the server's asyncio loop (the acquisition is one task).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from typing import Any, Awaitable, Callable, Dict, Optional, Sequence

import numpy as np
from caproto import (ChannelByte, ChannelData, ChannelDouble, ChannelEnum, ChannelInteger,
                     ChannelString)

from .records.server import _serve, server_environment

__all__ = ["AreaDetectorSim", "make_frames", "main", "COLOR_MODES", "DEFAULT_SIZE"]

log = logging.getLogger("epics.sim.areadetector")

DEFAULT_SIZE = (1360, 1024)
COLOR_MODES = ("Mono", "Bayer", "RGB1", "RGB2", "RGB3", "YUV444", "YUV422", "YUV411")
MONO, RGB1 = 0, 2
TRIGGER_MODES = ("Internal", "External")
#: Frames drawn at start-up and served in turn.
FRAME_COUNT = 8
#: Fastest frame rate served (AcquireTime 0 would otherwise spin).
MAX_RATE = 100.0

Hook = Callable[[Any], Awaitable[None]]


def _hooked(base: type) -> type:
    """A caproto channel class that awaits ``hook(value)`` after a client's write."""

    class Hooked(base):   # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, hook: Optional[Hook] = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.hook = hook

        async def verify_value(self, value: Any) -> Any:
            value = await super().verify_value(value)
            if self.hook is not None:
                await self.hook(value)
            return value
    Hooked.__name__ = f"Hooked{base.__name__}"
    return Hooked


_Double, _Enum, _Long = _hooked(ChannelDouble), _hooked(ChannelEnum), _hooked(ChannelInteger)


def make_frames(width: int, height: int, count: int = FRAME_COUNT) -> list:
    """``count`` RGB frames (height, width, 3) of uint8: colour gradients with a bright spot
    going round, so motion and colour are both visible."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.empty((height, width, 3), dtype=np.float32)
    base[..., 0] = 200.0 * x / max(width - 1, 1)
    base[..., 1] = 200.0 * y / max(height - 1, 1)
    base[..., 2] = 120.0
    frames = []
    radius = 0.3 * min(width, height)
    sigma2 = (0.06 * min(width, height)) ** 2
    for index in range(count):
        angle = 2 * np.pi * index / count
        cx, cy = width / 2 + radius * np.cos(angle), height / 2 + radius * np.sin(angle)
        spot = 255.0 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma2))
        frame = np.clip(base + spot[..., None], 0, 255).astype(np.uint8)
        frames.append(frame)
    return frames


class AreaDetectorSim:
    """The PVs and the acquisition task of one simulated detector."""

    def __init__(self, prefix: str, width: int = DEFAULT_SIZE[0],
                 height: int = DEFAULT_SIZE[1]) -> None:
        self.prefix, self.width, self.height = prefix, width, height
        self.frames = make_frames(width, height)
        self._mono: Dict[int, np.ndarray] = {}
        self._task: Optional[asyncio.Task] = None
        self._counter = 0
        self._sent: list = []
        self.pvdb: Dict[str, ChannelData] = {}
        self._build()

    # --- the PV database ------------------------------------------------------------------------

    def _add(self, name: str, channel: ChannelData) -> ChannelData:
        self.pvdb[self.prefix + name] = channel
        return channel

    def _setting(self, plugin: str, name: str, channel: ChannelData) -> ChannelData:
        """A setting and its read-back, which follows each write."""
        readback = self._add(f"{plugin}{name}_RBV", type(channel).__mro__[1](
            value=channel.value, **({"enum_strings": channel.enum_strings}
                                    if isinstance(channel, ChannelEnum) else {})))
        user_hook = channel.hook

        async def follow(value: Any) -> None:
            await readback.write(value)
            if user_hook is not None:
                await user_hook(value)
        channel.hook = follow
        return self._add(plugin + name, channel)

    def _build(self) -> None:
        cam, roi, image = "cam1:", "ROI1:", "image1:"
        self.acquire = self._setting(cam, "Acquire", _Enum(
            value=0, enum_strings=("Done", "Acquire"), hook=self._acquire_changed))
        self.state = self._add(cam + "DetectorState_RBV", ChannelEnum(
            value=0, enum_strings=("Idle", "Acquire")))
        self.acquire_time = self._setting(cam, "AcquireTime", _Double(value=0.05, precision=3,
                                                                      units="s"))
        self.acquire_period = self._setting(cam, "AcquirePeriod", _Double(value=0.0,
                                                                          precision=3, units="s"))
        self.gain = self._setting(cam, "Gain", _Double(value=1.0, precision=2))
        self.trigger_mode = self._setting(cam, "TriggerMode", _Enum(
            value=0, enum_strings=TRIGGER_MODES))
        self.color_mode = self._setting(cam, "ColorMode", _Enum(value=RGB1,
                                                                enum_strings=COLOR_MODES))
        self.cam_counter = self._add(cam + "ArrayCounter_RBV", ChannelInteger(value=0))
        self.rate = self._add(cam + "ArrayRate_RBV", ChannelDouble(value=0.0, precision=1))
        self._add(cam + "MaxSizeX_RBV", ChannelInteger(value=self.width))
        self._add(cam + "MaxSizeY_RBV", ChannelInteger(value=self.height))
        self._add(cam + "Manufacturer_RBV", ChannelString(value="epicsca"))
        self._add(cam + "Model_RBV", ChannelString(value="simulated RGB camera"))
        self.roi = {axis: self._setting(roi, axis, _Long(value=value)) for axis, value in (
            ("MinX", 0), ("MinY", 0), ("SizeX", self.width), ("SizeY", self.height))}
        self.roi_enable = self._setting(roi, "EnableCallbacks", _Enum(
            value=1, enum_strings=("Disable", "Enable")))
        self._setting(image, "EnableCallbacks", _Enum(value=1,
                                                      enum_strings=("Disable", "Enable")))
        length = self.width * self.height * 3
        self.array = self._add(image + "ArrayData", ChannelByte(
            value=np.zeros(length, dtype=np.uint8), max_length=length))
        self.sizes = [self._add(f"{image}ArraySize{i}_RBV", ChannelInteger(value=0))
                      for i in range(3)]
        self.dimensions = self._add(image + "NDimensions_RBV", ChannelInteger(value=0))
        self.image_color = self._add(image + "ColorMode_RBV", ChannelEnum(
            value=RGB1, enum_strings=COLOR_MODES))
        self.unique_id = self._add(image + "UniqueId_RBV", ChannelInteger(value=0))
        self.image_counter = self._add(image + "ArrayCounter_RBV", ChannelInteger(value=0))

    # --- acquisition ----------------------------------------------------------------------------

    async def _acquire_changed(self, value: Any) -> None:
        start = value in (1, "Acquire")
        if start and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._acquire())
        elif not start and self._task is not None:
            self._task.cancel()
            self._task = None
            await self.state.write(0)

    def _enum_index(self, channel: ChannelData) -> int:
        value = channel.value
        return channel.enum_strings.index(value) if isinstance(value, str) else int(value)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (cycling) in the current colour mode, gain and ROI."""
        slot = index % len(self.frames)
        if self._enum_index(self.color_mode) == MONO:
            if slot not in self._mono:
                self._mono[slot] = self.frames[slot].mean(axis=2).astype(np.uint8)
            frame = self._mono[slot]
        else:
            frame = self.frames[slot]
        if self._enum_index(self.roi_enable):
            x0 = int(np.clip(self.roi["MinX"].value, 0, self.width - 1))
            y0 = int(np.clip(self.roi["MinY"].value, 0, self.height - 1))
            width = int(np.clip(self.roi["SizeX"].value, 1, self.width - x0))
            height = int(np.clip(self.roi["SizeY"].value, 1, self.height - y0))
            frame = frame[y0:y0 + height, x0:x0 + width]
        gain = float(self.gain.value)
        if gain != 1.0:
            table = np.clip(np.arange(256) * gain, 0, 255).astype(np.uint8)
            frame = table[frame]
        return frame

    async def _acquire(self) -> None:
        await self.state.write(1)
        try:
            while True:
                period = max(float(self.acquire_time.value), float(self.acquire_period.value),
                             1.0 / MAX_RATE)
                started = time.monotonic()
                if self._enum_index(self.trigger_mode) == 0:
                    await self.publish(self.frame(self._counter))
                await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the simulated detector's acquisition failed")

    async def publish(self, frame: np.ndarray) -> None:
        """Post one frame through the image plugin (sizes first, then the array)."""
        self._counter += 1
        if frame.ndim == 3:
            sizes, dims, color = (3, frame.shape[1], frame.shape[0]), 3, RGB1
        else:
            sizes, dims, color = (frame.shape[1], frame.shape[0], 0), 2, MONO
        for channel, size in zip(self.sizes, sizes):
            if channel.value != size:
                await channel.write(size)
        if self.dimensions.value != dims:
            await self.dimensions.write(dims)
        if self._enum_index(self.image_color) != color:
            await self.image_color.write(color)
        await self.array.write(np.ascontiguousarray(frame).ravel(), verify_value=False)
        for channel in (self.unique_id, self.image_counter, self.cam_counter):
            await channel.write(self._counter)
        now = time.monotonic()
        self._sent = [t for t in self._sent if now - t < 1.0] + [now]
        await self.rate.write(float(len(self._sent)))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m epics.sim.areadetector",
                                     description="Serve a simulated areaDetector.")
    parser.add_argument("--port", type=int,
                        default=int(os.environ.get("EPICS_CAS_SERVER_PORT", 5064)))
    parser.add_argument("--interface", default="127.0.0.1")
    parser.add_argument("--prefix", default="sim:ad1:")
    parser.add_argument("--width", type=int, default=DEFAULT_SIZE[0])
    parser.add_argument("--height", type=int, default=DEFAULT_SIZE[1])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("caproto").setLevel(logging.ERROR)
    os.environ.update(server_environment(args.port, args.interface))
    detector = AreaDetectorSim(args.prefix, args.width, args.height)
    return asyncio.run(_serve(detector.pvdb, args.port, args.interface))


if __name__ == "__main__":
    sys.exit(main())
