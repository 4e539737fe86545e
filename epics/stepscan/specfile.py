"""A writer of SPEC data files: the format SPEC itself writes and SPEC readers (PyMca, silx)
read.

A file starts with a header (``#F`` file name, ``#E`` epoch, ``#D`` date, ``#C`` comments,
``#O0``.. motor names, 8 per line). Each scan is appended to it: a blank line, ``#S n
command``, ``#D`` date, ``#T`` count time, ``#P0``.. the motor positions at the start (in the
``#O`` order), ``#C`` comments (the extra PVs), ``#N`` number of columns, ``#L`` the column
labels (two spaces apart, so a label may contain one space), then one row per point, written
as the point is taken (so the file is valid at any moment, also after a crash). Scan numbers
increase through the file, also across programs appending to it. A scan whose motors differ
from the header's starts a new file header (``#F``/``#E``/``#D``/``#O``) first, as SPEC does
when it reopens a file after a motor configuration change; readers give each scan the motors
of the header above it.

Threads: runs on the scan thread.
"""
from __future__ import annotations

import os
import re
import time
from typing import IO, List, Mapping, Optional, Sequence

__all__ = ['SpecWriter', 'spec_label']

MOTORS_PER_LINE = 8
_SCAN_LINE = re.compile(r'^#S\s+(\d+)')


def spec_label(text: str) -> str:
    """A column/motor label SPEC readers split correctly: no double spaces, tabs or newlines."""
    label = re.sub(r'\s+', ' ', str(text)).strip()
    return label or 'unnamed'


def format_value(value: object) -> str:
    """A number in full precision (``repr`` of a float reads back to the same float)."""
    if isinstance(value, (bool, int)):
        return str(int(value))
    try:
        number = float(value)         # numpy scalars too
    except (TypeError, ValueError):
        return 'nan'
    return repr(number) if number == number else 'nan'


class SpecWriter:
    """Appends scans to one SPEC file.

    Parameters
    ----------
    filename : str
        The file; created with a header if missing, appended to if present.
    comments : sequence of str
        ``#C`` lines of a new file's header.
    """

    def __init__(self, filename: str, comments: Sequence[str] = ()) -> None:
        self.filename = os.fspath(filename)
        self.header_motors: Optional[List[str]] = None
        self.last_scan = 0
        self.scan_number: Optional[int] = None
        self.rows = 0
        self._file: Optional[IO[str]] = None
        self._comments = list(comments)
        if os.path.exists(self.filename):
            self._read_existing()

    def _read_existing(self) -> None:
        """Find the last scan number and the motor names of the last header."""
        motors: List[str] = []
        seen_header = False
        with open(self.filename, encoding='utf-8', errors='replace') as existing:
            for line in existing:
                match = _SCAN_LINE.match(line)
                if match:
                    self.last_scan = max(self.last_scan, int(match.group(1)))
                elif line.startswith('#F'):
                    seen_header = True
                elif line.startswith('#E'):
                    motors = []
                elif re.match(r'^#O\d+ ', line):
                    motors += [name for name in line.split(' ', 1)[1].rstrip('\n').split('  ')
                               if name]
        self.header_motors = motors if seen_header else None

    def _write(self, text: str) -> None:
        if self._file is None:
            self._file = open(self.filename, 'a', encoding='utf-8')
        self._file.write(text)

    def _header(self, motors: Sequence[str], first: bool) -> None:
        now = time.time()
        lines = [] if first else ['']
        lines += [f'#F {self.filename}', f'#E {int(now)}', f'#D {time.ctime(now)}']
        lines += [f'#C {spec_label(c)}' for c in (self._comments if first else ())]
        for i in range(0, len(motors), MOTORS_PER_LINE):
            lines.append(f'#O{i // MOTORS_PER_LINE} ' + '  '.join(motors[i:i + MOTORS_PER_LINE]))
        self._write('\n'.join(lines) + '\n')
        self.header_motors = list(motors)

    def begin_scan(self, command: str, motor_positions: Mapping[str, float],
                   labels: Sequence[str], count_time: Optional[float] = None,
                   comments: Sequence[str] = ()) -> int:
        """Write a scan's header lines; returns its number.

        Parameters
        ----------
        command : str
            The ``#S`` line's command, e.g. ``'ascan  x 0 1 10 0.1'``.
        motor_positions : mapping
            Every motor's name and position at the start (``#O``/``#P``).
        labels : sequence of str
            The column labels of the rows to come.
        count_time : float, optional
            ``#T`` (seconds per point).
        comments : sequence of str
            ``#C`` lines (e.g. ``'Ring Current (S:SRcurrentAI) = 102.1'``).
        """
        motors = [spec_label(name) for name in motor_positions]
        if self.header_motors is None:
            self._header(motors, first=True)
        elif motors != self.header_motors:
            self._header(motors, first=False)
        self.scan_number = self.last_scan + 1
        self.last_scan = self.scan_number
        self.rows = 0
        lines = ['', f'#S {self.scan_number}  {spec_label(command)}', f'#D {time.ctime()}']
        if count_time is not None:
            lines.append(f'#T {format_value(count_time)}  (Seconds)')
        positions = [format_value(v) for v in motor_positions.values()]
        for i in range(0, len(positions), MOTORS_PER_LINE):
            lines.append(f'#P{i // MOTORS_PER_LINE} ' + ' '.join(
                positions[i:i + MOTORS_PER_LINE]))
        lines += [f'#C {spec_label(c)}' for c in comments]
        lines += [f'#N {len(labels)}', '#L ' + '  '.join(spec_label(x) for x in labels)]
        self._write('\n'.join(lines) + '\n')
        self.flush()
        return self.scan_number

    def add_row(self, values: Sequence[object]) -> None:
        """One data row (flushed at once: the file is complete after every point)."""
        self._write(' '.join(format_value(v) for v in values) + '\n')
        self._file.flush()
        self.rows += 1

    def comment(self, text: str) -> None:
        """A ``#C`` line inside the current scan (e.g. why it ended early)."""
        self._write(f'#C {spec_label(text)}\n')
        self.flush()

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        """Flush and close (idempotent; the next scan opens the file again)."""
        if self._file is not None:
            self.flush()
            self._file.close()
            self._file = None

    def __enter__(self) -> 'SpecWriter':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

