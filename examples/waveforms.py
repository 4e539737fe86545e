#!/usr/bin/env python
"""Working with waveforms: read dwave, iwave and image into numpy, print statistics, plot them.

The exercise (PyEpics class): "Read one of the updating dwave, iwave, and image PVs into a numpy
ndarray and find the mean, sum, and standard deviation, and plot the array."

Start the simulated beamline first (``python -m epics.sim``) and set, in this shell, the
``EPICS_CA_*`` variables it prints; then::

    python examples/waveforms.py                         # id01, once; plot to waveforms.png
    python examples/waveforms.py --prefix id02 --duration 10 --png /tmp/id02.png
    python examples/waveforms.py --no-plot

The plot needs matplotlib (``pip install 'epicsca[plot]'``, or ``pip install matplotlib``);
without it the statistics are printed and the plot is skipped, with a message saying so. The
plot is written to a PNG file (no window is opened), so it works over ssh too.

How: ``PV.get()`` returns a numpy array for a waveform (``dwave`` float64, ``iwave`` int32,
``image`` uint8 of 65536 = 256 x 256 pixels, reshaped here). ``EPICS_CA_MAX_ARRAY_BYTES`` must
allow the image (the simulator's client environment sets it; the library's default of 16 MiB
does too). With ``--duration`` the PVs are read again every ``--period`` seconds, to see them
change, and the last reading is plotted.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from typing import Dict, List, Optional

import numpy as np

from epics import PV

WAVEFORMS = ("dwave", "iwave", "image")
IMAGE_SHAPE = (256, 256)
MATPLOTLIB_MISSING = ("plot skipped: matplotlib is not installed "
                      "(pip install 'epicsca[plot]', or pip install matplotlib)")


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Read PREFIX:dwave, iwave and image into numpy "
                                                 "arrays, print mean, sum and standard "
                                                 "deviation, and plot them to a PNG file.")
    parser.add_argument("--prefix", default="id01", help="PV prefix (default %(default)s)")
    parser.add_argument("--duration", type=float, default=0.0,
                        help="keep reading for this many seconds (default %(default)s: once)")
    parser.add_argument("--period", type=float, default=1.0,
                        help="seconds between readings with --duration (default %(default)s)")
    parser.add_argument("--png", default="waveforms.png",
                        help="file to save the plot to (default %(default)s)")
    parser.add_argument("--no-plot", dest="plot", action="store_false", help="do not plot")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for the PVs to connect (default %(default)s)")
    args = parser.parse_args(argv)
    if args.period <= 0 or args.duration < 0:
        parser.error("--period must be > 0 and --duration >= 0")
    return args


def read(pvs: Dict[str, PV]) -> Dict[str, np.ndarray]:
    """The current arrays; the image as 256 x 256 rows and columns."""
    arrays = {name: np.asarray(pv.get()) for name, pv in pvs.items()}
    image = arrays.get("image")
    if image is not None and image.size == IMAGE_SHAPE[0] * IMAGE_SHAPE[1]:
        arrays["image"] = image.reshape(IMAGE_SHAPE)
    return arrays


def statistics(arrays: Dict[str, np.ndarray], prefix: str) -> List[str]:
    """A table of shape, dtype, mean, sum, standard deviation, min and max, as lines."""
    lines = [f"{'PV':<12}{'shape':>12}{'dtype':>9}{'mean':>12}{'sum':>14}{'std':>12}"
             f"{'min':>10}{'max':>10}"]
    for name, array in arrays.items():
        lines.append(f"{prefix + ':' + name:<12}{str(array.shape):>12}{str(array.dtype):>9}"
                     f"{array.mean():>12.4f}{array.sum():>14.6g}{array.std():>12.4f}"
                     f"{array.min():>10.4g}{array.max():>10.4g}")
    image = arrays.get("image")
    if image is not None and image.ndim == 2:
        # Where the spot is: the intensity-weighted centre of the pixels above half its height
        # (above the background, the noise of the many dark pixels would pull it to the middle).
        background = float(np.median(image))
        half = background + 0.5 * (float(image.max()) - background)
        signal = np.clip(image.astype(np.float64) - half, 0.0, None)
        total = signal.sum()
        if total > 0:
            rows, cols = np.indices(image.shape)
            lines.append(f"image: spot centre at row {(rows * signal).sum() / total:.1f}, "
                         f"column {(cols * signal).sum() / total:.1f}")
    return lines


def plot(arrays: Dict[str, np.ndarray], prefix: str, filename: str, taken: datetime) -> str:
    """Save the three arrays (read at `taken`) as one PNG figure; return what happened."""
    try:
        import matplotlib
    except ImportError:
        return MATPLOTLIB_MISSING
    matplotlib.use("Agg")           # draw into files only: no display needed
    import matplotlib.pyplot as plt

    fig, (ax_d, ax_i, ax_img) = plt.subplots(1, 3, figsize=(15, 4.5))
    try:
        fig.suptitle(f"{prefix} waveforms at {taken:%Y-%m-%d %H:%M:%S}")
        if "dwave" in arrays:
            ax_d.plot(arrays["dwave"], color="tab:blue")
            ax_d.set_title(f"{prefix}:dwave (mean {arrays['dwave'].mean():.3f})")
            ax_d.set_xlabel("index")
        if "iwave" in arrays:
            ax_i.step(np.arange(arrays["iwave"].size), arrays["iwave"], color="tab:red",
                      where="mid")
            ax_i.set_title(f"{prefix}:iwave (sum {arrays['iwave'].sum()})")
            ax_i.set_xlabel("index")
        if "image" in arrays:
            shown = ax_img.imshow(arrays["image"], cmap="viridis", origin="upper")
            fig.colorbar(shown, ax=ax_img)
            ax_img.set_title(f"{prefix}:image (std {arrays['image'].std():.2f})")
        fig.tight_layout()
        fig.savefig(filename, dpi=80)
    finally:
        plt.close(fig)
    return f"plot saved: {filename}"


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    pvs = {name: PV(f"{args.prefix}:{name}") for name in WAVEFORMS}
    deadline = time.monotonic() + args.timeout
    missing = [pv.pvname for pv in pvs.values()
               if not pv.wait_for_connection(timeout=max(0.0, deadline - time.monotonic()))]
    if missing:
        print(f"waveforms: not connected after {args.timeout} s: {', '.join(missing)}\n"
              "Is the simulator running (python -m epics.sim), with its EPICS_CA_* variables "
              "set in this shell?", file=sys.stderr)
        return 1

    readings = 1 + int(args.duration / args.period)
    print(f"Working with waveforms: {args.prefix}:dwave, iwave and image, "
          f"{readings} reading{'s' if readings > 1 else ''}")
    start = time.monotonic()
    arrays: Dict[str, np.ndarray] = {}
    taken = datetime.now()
    try:
        for index in range(readings):
            delay = start + index * args.period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            arrays, taken = read(pvs), datetime.now()
            print(f"reading {index + 1} at {taken:%H:%M:%S}:")
            print("\n".join(statistics(arrays, args.prefix)), flush=True)
    except KeyboardInterrupt:
        print("interrupted")
    if args.plot and arrays:
        print(plot(arrays, args.prefix, args.png, taken))
    return 0


if __name__ == "__main__":
    sys.exit(main())
