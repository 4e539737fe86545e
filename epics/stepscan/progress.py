"""Terminal progress of a scan: a bar with points done, elapsed time and the time left, and
optionally a live table of the rows.

Threads: called on the scan thread, after each point.
"""
from __future__ import annotations

import sys
import time
from typing import IO, Optional, Sequence

__all__ = ['TerminalProgress', 'format_seconds']

BAR_WIDTH = 30


def format_seconds(seconds: float) -> str:
    """``'1:02:03'`` / ``'2:03'``."""
    seconds = max(int(round(seconds)), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f'{hours}:{minutes:02d}:{secs:02d}' if hours else f'{minutes}:{secs:02d}'


class TerminalProgress:
    """Draws ``[#####.....]  12/41  29%  0:03 elapsed  0:08 left`` on one line.

    Parameters
    ----------
    stream : file, optional
        Where to draw (default: stderr).
    table : bool
        Also print each row (labels first).
    """

    def __init__(self, stream: Optional[IO[str]] = None, table: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.table = table
        self._t0 = time.monotonic()
        self._labels: Sequence[str] = ()

    def start(self, npts: int, labels: Sequence[str]) -> None:
        self._t0 = time.monotonic()
        self._labels = labels
        if self.table:
            self.stream.write('  '.join(f'{label:>12.12}' for label in labels) + '\n')

    def eta(self, done: int, npts: int) -> float:
        """Seconds left, from the mean time per point so far."""
        elapsed = time.monotonic() - self._t0
        return elapsed / done * (npts - done) if done else 0.0

    def update(self, done: int, npts: int, row: Sequence[float] = ()) -> None:
        elapsed = time.monotonic() - self._t0
        filled = int(BAR_WIDTH * done / npts) if npts else BAR_WIDTH
        bar = '#' * filled + '.' * (BAR_WIDTH - filled)
        line = (f'[{bar}] {done:>5d}/{npts:<5d} {100.0 * done / max(npts, 1):5.1f}%  '
                f'{format_seconds(elapsed)} elapsed  {format_seconds(self.eta(done, npts))} left')
        if self.table and row:
            self.stream.write('\r' + ' ' * (len(line) + 2) + '\r')
            self.stream.write('  '.join(f'{value:12.6g}' for value in row) + '\n')
        self.stream.write('\r' + line)
        self.stream.flush()

    def finish(self, status: str, message: str = '') -> None:
        self.stream.write(f'\nscan {status}{": " + message if message else ""}\n')
        self.stream.flush()
