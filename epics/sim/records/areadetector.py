"""Simulated areaDetector: a camera driver with image, file and overlay plugins.

PVs, for a prefix like ``sim:AD1:``:

``cam1:``
    the ADBase driver PVs that :class:`epics.devices.AD_Camera` uses (``Acquire``,
    ``AcquireTime``, ``ImageMode``, ``NumImages``, ``SizeX``, ``BinX``, ``ColorMode``...), each
    setting with its ``_RBV``, plus the PerkinElmer ones (``PEAcquireOffset``,
    ``PENumOffsetFrames``, ``ShutterControl``, ``ShutterMode``, ``Model_RBV``).
``image1:``
    an NDStdArrays plugin: ``ArrayData`` (the last frame), ``NDimensions_RBV``,
    ``ArraySize0_RBV``..``ArraySize2_RBV``, ``ColorMode_RBV``, ``UniqueId_RBV``.
``netCDF1:``
    a file plugin: ``FilePath``, ``FileName``, ``FileNumber``, ``FileTemplate``, ``Capture``,
    ``NumCapture``, ``WriteFile``, ``FullFileName_RBV``... A "write" makes the file name from
    the template (``FileTemplate % (FilePath, FileName, FileNumber)``) and advances the number;
    no file is written.
``Over1:1:``
    one overlay of an overlay plugin (``Name``, ``Use``, ``PositionX``, ``SizeX``, ``Shape``,
    ``Red``..., each with its ``_RBV``).

Acquisition: a put of 1 to ``cam1:Acquire`` makes frames every ``max(AcquireTime,
AcquirePeriod)`` seconds: one (ImageMode Single), ``NumImages`` (Multiple) or until
``Acquire`` = 0 (Continuous). A put-with-completion to ``Acquire`` completes when the
acquisition ends, as with the real driver's busy record. Frame ``n`` (``ArrayCounter_RBV``)
of ``X`` by ``Y`` pixels (``SizeX/BinX``, ``SizeY/BinY``) holds ``(x + 2*y + n) % 4096`` for
Mono, and that plus ``1000 * c`` in colour plane ``c`` for RGB1 (dimensions ``[3, X, Y]``).
``PEAcquireOffset`` = 1 runs for ``PENumOffsetFrames * AcquireTime`` seconds, then drops.

Everything runs on the caproto server's event loop (see :mod:`._record`).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Iterable, List, Optional, Sequence

import numpy as np

from ._record import MAX_PUT_WAIT, Field, LazyEvent, SimRecord

__all__ = ['AreaDetectorSim', 'CamRecord', 'ImagePluginRecord', 'FilePluginRecord',
           'OverlayRecord', 'MAX_SIZE']

logger = logging.getLogger('epics.sim.records.areadetector')

#: Sensor size (pixels); ArrayData holds up to 3 colour planes of it.
MAX_SIZE = (64, 48)
#: Shortest time between frames (s).
MIN_FRAME_TIME = 0.005

COLOR_MODES = ('Mono', 'Bayer', 'RGB1', 'RGB2', 'RGB3', 'YUV444', 'YUV422', 'YUV421')
DATA_TYPES = ('Int8', 'UInt8', 'Int16', 'UInt16', 'Int32', 'UInt32', 'Float32', 'Float64')
DETECTOR_STATES = ('Idle', 'Acquire', 'Readout', 'Correct', 'Saving', 'Aborting', 'Error',
                   'Waiting', 'Initializing', 'Disconnected', 'Aborted')
IMAGE_MODES = ('Single', 'Multiple', 'Continuous')
TRIGGER_MODES = ('Internal', 'External')
DONE_ACQUIRE = ('Done', 'Acquire')
NO_YES = ('No', 'Yes')
DISABLE_ENABLE = ('Disable', 'Enable')


def _field(prefix: str, name: str, kind: str, value=None, enums: Sequence[str] = (),
           ro: bool = False, count: int = 1) -> Field:
    return Field(name, kind, value, enums=tuple(enums), readonly=ro, count=count,
                 pvnames=(prefix + name,))


def _with_rbv(prefix: str, name: str, kind: str, value=None,
              enums: Sequence[str] = ()) -> List[Field]:
    """A setting and its read-back ``<name>_RBV``."""
    return [_field(prefix, name, kind, value, enums),
            _field(prefix, name + '_RBV', kind, value, enums, ro=True)]


class _PluginBase(SimRecord):
    """A group of asyn driver PVs ``<prefix><Name>``; a put to a setting updates its _RBV."""
    record_type = 'asyn'
    delim = ''
    bare_field = None
    common_fields = False

    async def after_put(self, field, value):
        readback = field + '_RBV'
        if self.has_field(readback):
            await self.post(readback, self.get(field))
        return None


class ImagePluginRecord(_PluginBase):
    """NDStdArrays plugin: the last frame and its dimensions."""

    def fields(self) -> Iterable[Field]:
        p = self.name
        size = MAX_SIZE[0] * MAX_SIZE[1] * 3
        return [_field(p, 'ArrayData', 'long', 0, count=size, ro=True),
                *_with_rbv(p, 'UniqueId', 'long', 0), *_with_rbv(p, 'NDimensions', 'long', 0),
                *_with_rbv(p, 'ArraySize0', 'long', 0), *_with_rbv(p, 'ArraySize1', 'long', 0),
                *_with_rbv(p, 'ArraySize2', 'long', 0),
                *_with_rbv(p, 'ColorMode', 'enum', 0, COLOR_MODES),
                *_with_rbv(p, 'EnableCallbacks', 'enum', 1, DISABLE_ENABLE)]

    async def on_frame(self, frame: np.ndarray, counter: int, color: int) -> None:
        """Publish a frame (numpy array, slowest dimension first)."""
        if not self.get('EnableCallbacks'):
            return
        dims = list(frame.shape[::-1]) + [0, 0]
        async with self.lock:
            await self.post_many(UniqueId_RBV=counter, NDimensions_RBV=frame.ndim,
                                 ArraySize0_RBV=dims[0], ArraySize1_RBV=dims[1],
                                 ArraySize2_RBV=dims[2], ColorMode_RBV=color)
            await self.post('ArrayData', frame.ravel())


class FilePluginRecord(_PluginBase):
    """A file-saving plugin (its file names only, no files)."""

    #: Always set: returned for WriteFile and Capture so that their put-with-completion
    #: answers after the file name and counters it changed have gone out.
    _written = LazyEvent(initially_set=True)

    def fields(self) -> Iterable[Field]:
        p = self.name
        return [*_with_rbv(p, 'AutoIncrement', 'enum', 0, NO_YES),
                *_with_rbv(p, 'AutoSave', 'enum', 0, NO_YES),
                *_with_rbv(p, 'Capture', 'enum', 0, DONE_ACQUIRE[:1] + ('Capture',)),
                *_with_rbv(p, 'EnableCallbacks', 'enum', 0, DISABLE_ENABLE),
                *_with_rbv(p, 'FileName', 'string', ''),
                *_with_rbv(p, 'FileNumber', 'long', 1),
                *_with_rbv(p, 'FilePath', 'string', ''),
                _field(p, 'FilePathExists_RBV', 'enum', 1, NO_YES, ro=True),
                *_with_rbv(p, 'FileTemplate', 'string', '%s%s_%3.3d.nc'),
                *_with_rbv(p, 'FileWriteMode', 'enum', 0, ('Single', 'Capture', 'Stream')),
                _field(p, 'FullFileName_RBV', 'string', '', ro=True),
                *_with_rbv(p, 'NDArrayPort', 'string', 'CAM1'),
                *_with_rbv(p, 'NumCapture', 'long', 1),
                _field(p, 'NumCaptured_RBV', 'long', 0, ro=True),
                *_with_rbv(p, 'ReadFile', 'enum', 0, ('Done', 'Read')),
                *_with_rbv(p, 'WriteFile', 'enum', 0, ('Done', 'Write')),
                _field(p, 'WriteMessage', 'string', '', ro=True),
                _field(p, 'WriteStatus', 'enum', 0, ('Write OK', 'Write error'), ro=True),
                _field(p, 'ArraySize0_RBV', 'long', 0, ro=True)]

    def _next_name(self) -> str:
        template = self.get('FileTemplate') or '%s%s_%3.3d'
        try:
            return template % (self.get('FilePath'), self.get('FileName'),
                               self.get('FileNumber'))
        except (TypeError, ValueError) as exc:
            raise ValueError(f'{self.name}FileTemplate {template!r}: {exc}') from None

    async def _write(self) -> None:
        """Under the lock: name the file, advance the number."""
        await self.post('FullFileName_RBV', self._next_name())
        if self.get('AutoIncrement'):
            await self.post('FileNumber', self.get('FileNumber') + 1)
            await self.post('FileNumber_RBV', self.get('FileNumber'))

    async def after_put(self, field, value):
        await super().after_put(field, value)
        if field == 'WriteFile' and value:
            await self._write()
            await self.post_many(WriteFile=0, WriteFile_RBV=0)
            return self._written
        if field == 'Capture' and value:
            await self.post('NumCaptured_RBV', 0)
            return self._written
        return None

    async def on_frame(self, frame: np.ndarray, counter: int, color: int) -> None:
        if not self.get('EnableCallbacks'):
            return
        async with self.lock:
            await self.post('ArraySize0_RBV', frame.shape[-1])
            if self.get('AutoSave') and self.get('FileWriteMode') == 0:
                await self._write()
            if self.get('Capture_RBV'):
                captured = self.get('NumCaptured_RBV') + 1
                await self.post('NumCaptured_RBV', captured)
                if captured >= self.get('NumCapture'):
                    await self._write()
                    await self.post_many(Capture=0, Capture_RBV=0)


class OverlayRecord(_PluginBase):
    """One overlay of an NDOverlay plugin (settings and read-backs only)."""

    def fields(self) -> Iterable[Field]:
        p = self.name
        specs = [*_with_rbv(p, 'Name', 'string', ''), *_with_rbv(p, 'Use', 'enum', 0, NO_YES),
                 *_with_rbv(p, 'Shape', 'enum', 0, ('Cross', 'Rectangle', 'Text', 'Ellipse')),
                 *_with_rbv(p, 'DrawMode', 'enum', 0, ('Set', 'XOR'))]
        for name in ('PositionX', 'PositionY', 'SizeX', 'SizeY', 'Red', 'Green', 'Blue'):
            specs += _with_rbv(p, name, 'long', 0)
        specs += [_field(p, name, 'string', '') for name in
                  ('PositionXLink', 'PositionYLink', 'SizeXLink', 'SizeYLink')]
        return specs


class CamRecord(_PluginBase):
    """The camera driver (``cam1:``); makes frames and hands them to its plugins."""

    _done_event = LazyEvent(initially_set=True)
    _stop_event = LazyEvent()
    _offset_done = LazyEvent(initially_set=True)

    def __init__(self, prefix: str, plugins: Sequence[SimRecord] = ()):
        self.plugins = list(plugins)
        self._task: Optional[asyncio.Task] = None
        super().__init__(prefix)

    def fields(self) -> Iterable[Field]:
        p = self.name
        width, height = MAX_SIZE
        specs = [*_with_rbv(p, 'Acquire', 'enum', 0, DONE_ACQUIRE),
                 *_with_rbv(p, 'AcquireTime', 'double', 0.01),
                 *_with_rbv(p, 'AcquirePeriod', 'double', 0.0),
                 *_with_rbv(p, 'ArrayCallbacks', 'enum', 1, DISABLE_ENABLE),
                 *_with_rbv(p, 'ArrayCounter', 'long', 0),
                 _field(p, 'ArrayRate_RBV', 'double', 0.0, ro=True),
                 _field(p, 'ArraySizeX_RBV', 'long', width, ro=True),
                 _field(p, 'ArraySizeY_RBV', 'long', height, ro=True),
                 _field(p, 'ArraySize_RBV', 'long', width * height, ro=True),
                 *_with_rbv(p, 'BinX', 'long', 1), *_with_rbv(p, 'BinY', 'long', 1),
                 *_with_rbv(p, 'ColorMode', 'enum', 0, COLOR_MODES),
                 *_with_rbv(p, 'DataType', 'enum', 3, DATA_TYPES),
                 _field(p, 'DetectorState_RBV', 'enum', 0, DETECTOR_STATES, ro=True),
                 *_with_rbv(p, 'Gain', 'double', 1.0),
                 *_with_rbv(p, 'ImageMode', 'enum', 0, IMAGE_MODES),
                 _field(p, 'MaxSizeX_RBV', 'long', width, ro=True),
                 _field(p, 'MaxSizeY_RBV', 'long', height, ro=True),
                 *_with_rbv(p, 'MinX', 'long', 0), *_with_rbv(p, 'MinY', 'long', 0),
                 *_with_rbv(p, 'NumImages', 'long', 1),
                 _field(p, 'NumImagesCounter_RBV', 'long', 0, ro=True),
                 *_with_rbv(p, 'SizeX', 'long', width), *_with_rbv(p, 'SizeY', 'long', height),
                 _field(p, 'TimeRemaining_RBV', 'double', 0.0, ro=True),
                 *_with_rbv(p, 'TriggerMode', 'enum', 0, TRIGGER_MODES),
                 _field(p, 'TriggerSoftware', 'enum', 0, ('Done', 'Trigger')),
                 # PerkinElmer flat panel (ADPerkinElmer)
                 _field(p, 'PEAcquireOffset', 'enum', 0, DONE_ACQUIRE),
                 _field(p, 'PENumOffsetFrames', 'long', 3),
                 _field(p, 'ShutterControl', 'enum', 0, ('Close', 'Open')),
                 _field(p, 'ShutterMode', 'enum', 0, ('None', 'EPICS PV', 'Detector output')),
                 _field(p, 'Model_RBV', 'string', 'Simulated detector', ro=True)]
        return specs

    async def on_put(self, field, value):
        sensor = {'X': MAX_SIZE[0], 'Y': MAX_SIZE[1]}
        if field in ('SizeX', 'SizeY'):
            return max(1, min(int(value), sensor[field[-1]]))
        if field in ('MinX', 'MinY'):
            return max(0, min(int(value), sensor[field[-1]] - 1))
        if field in ('BinX', 'BinY', 'NumImages'):
            return max(1, int(value))
        if field in ('AcquireTime', 'AcquirePeriod'):
            return max(0.0, float(value))
        return value

    async def after_put(self, field, value):
        await super().after_put(field, value)
        if field == 'Acquire':
            if value and not self._acquiring:
                self._stop_event.clear()
                self._done_event.clear()
                self._task = self.spawn(self._acquire())
            elif not value:
                self._stop_event.set()
            return self._done_event if value else None
        if field == 'PEAcquireOffset' and value:
            self._offset_done.clear()
            self.spawn(self._acquire_offset())
            return self._offset_done
        return None

    @property
    def _acquiring(self) -> bool:
        return self._task is not None and not self._task.done()

    def frame(self, counter: int) -> np.ndarray:
        """Frame ``counter`` as the current settings make it (slowest dimension first)."""
        width = max(1, (self.get('SizeX') - self.get('MinX')) // self.get('BinX'))
        height = max(1, (self.get('SizeY') - self.get('MinY')) // self.get('BinY'))
        y, x = np.mgrid[0:height, 0:width]
        mono = (x + 2 * y + counter) % 4096
        if COLOR_MODES[self.get('ColorMode')] == 'RGB1':
            return np.stack([mono + 1000 * c for c in range(3)], axis=-1)
        return mono

    async def _acquire(self) -> None:
        mode = self.get('ImageMode')
        wanted = 1 if mode == 0 else self.get('NumImages') if mode == 1 else None
        period = max(self.get('AcquireTime'), self.get('AcquirePeriod'), MIN_FRAME_TIME)
        budget = wanted if wanted is not None else int(MAX_PUT_WAIT / period)
        made = 0
        try:
            async with self.lock:
                await self.post_many(DetectorState_RBV=1, NumImagesCounter_RBV=0)
            for made in range(1, budget + 1):
                try:
                    await asyncio.wait_for(self._stop_event.wait(), period)
                    break                                   # Acquire = 0
                except asyncio.TimeoutError:
                    pass
                counter = self.get('ArrayCounter') + 1
                frame = self.frame(counter)
                color = 2 if frame.ndim == 3 else 0
                async with self.lock:
                    await self.post_many(ArrayCounter=counter, ArrayCounter_RBV=counter,
                                         NumImagesCounter_RBV=made,
                                         ArraySizeX_RBV=frame.shape[1],
                                         ArraySizeY_RBV=frame.shape[0],
                                         ArraySize_RBV=frame.size * 2,
                                         ArrayRate_RBV=1.0 / period)
                if self.get('ArrayCallbacks'):
                    for plugin in self.plugins:
                        await plugin.on_frame(frame, counter, color)
        finally:
            async with self.lock:
                await self.post_many(Acquire=0, Acquire_RBV=0, DetectorState_RBV=0)
            self._done_event.set()

    async def _acquire_offset(self) -> None:
        try:
            seconds = self.get('PENumOffsetFrames') * self.get('AcquireTime')
            await asyncio.sleep(min(max(seconds, MIN_FRAME_TIME), MAX_PUT_WAIT))
        finally:
            async with self.lock:
                await self.post('PEAcquireOffset', 0)
            self._offset_done.set()


class AreaDetectorSim(SimRecord):
    """A camera with its plugins under one prefix (see the module docstring)."""
    record_type = 'areaDetector'
    delim = ''
    bare_field = None
    common_fields = False

    def __init__(self, prefix: str):
        if not prefix.endswith(':'):
            prefix += ':'
        super().__init__(prefix)
        self.image = ImagePluginRecord(prefix + 'image1:')
        self.file = FilePluginRecord(prefix + 'netCDF1:')
        self.overlay = OverlayRecord(prefix + 'Over1:1:')
        self.cam = CamRecord(prefix + 'cam1:', plugins=[self.image, self.file])
        # the plugins are the camera's children: a completed Acquire waits for their updates too
        self.cam.children.extend([self.image, self.file])
        self.children.extend([self.cam, self.overlay])
