"""Frame rate of epics.qt's ImageView on the simulated areaDetector (1360x1024 RGB by default).

Starts ``python -m epics.sim.areadetector`` on a free loopback port, opens an ImageView on it,
starts acquisition (AcquireTime ``--exposure``, default 0.05 s: 20 frames/s offered) and counts,
over ``--seconds``, the frames the server published (ArrayCounter_RBV), the frames that reached
the client (monitor updates) and the frames the viewer drew; with the CPU of this process and of
the server. Qt runs offscreen unless QT_QPA_PLATFORM is set. Prints one JSON line.

Run::

    python bench/qt_imageview.py
    python bench/qt_imageview.py --width 640 --height 480 --seconds 5

Threads: the main thread is the GUI thread; CA callbacks run on the library's dispatcher thread.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from epics.testing import PortPool, SubprocessIoc, unique_prefix  # noqa: E402

from qt_load import process_cpu_seconds  # noqa: E402


def run(width: int, height: int, seconds: float, exposure: float) -> dict:
    pool = PortPool(1)
    pool.apply()
    port = pool.take()
    prefix = unique_prefix("adb")
    server = SubprocessIoc([sys.executable, "-m", "epics.sim.areadetector", "--port", "{port}",
                            "--prefix", prefix, "--width", str(width), "--height", str(height)],
                           port=port, repeater_port=pool.repeater_port, name="sim-areadetector")
    with server:
        from qtpy.QtCore import QTimer
        from qtpy.QtWidgets import QApplication

        from epics import caget, caput
        from epics.qt.imageview import ImageView

        app = QApplication.instance() or QApplication([])
        view = ImageView(prefix)
        view.resize(1000, 700)
        view.show()
        caput(prefix + "cam1:AcquireTime", exposure, wait=True)
        caput(prefix + "cam1:Acquire", 1, wait=True)
        deadline = time.monotonic() + 30
        while view.image.frames_shown < 3 and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        shown0, received0 = view.image.frames_shown, view.image.channel.updates_received
        published0 = caget(prefix + "cam1:ArrayCounter_RBV", use_monitor=False)
        cpu0, server_cpu0, wall0 = (time.process_time(), process_cpu_seconds(server.pid),
                                    time.monotonic())
        QTimer.singleShot(int(seconds * 1000), app.quit)
        app.exec()
        wall = time.monotonic() - wall0
        cpu, server_cpu = time.process_time() - cpu0, process_cpu_seconds(server.pid) - \
            server_cpu0
        published = caget(prefix + "cam1:ArrayCounter_RBV", use_monitor=False) - published0
        shown = view.image.frames_shown - shown0
        received = view.image.channel.updates_received - received0
        caput(prefix + "cam1:Acquire", 0, wait=True)
        view.image.close_pv()
        view.deleteLater()
        app.processEvents()
    return {"width": width, "height": height, "seconds": round(wall, 2),
            "offered_fps": round(1 / exposure, 1),
            "published_fps": round(published / wall, 1),
            "received_fps": round(received / wall, 1), "shown_fps": round(shown / wall, 1),
            "cpu_percent": round(100 * cpu / wall, 1),
            "server_cpu_percent": round(100 * server_cpu / wall, 1), "cpus": os.cpu_count()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=1360)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--exposure", type=float, default=0.05)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.width, args.height, args.seconds, args.exposure)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
