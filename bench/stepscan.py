"""Per-point overhead of epics.stepscan: 3 positioners and 20 counters, no motion, no dwell.

The positioners are soft ``ao`` records (their put completes at once) and the counters ``ai``
records of a softioc started here on a free loopback port, so the time per point is the scan's
own work: 3 puts with completion and their waits, one parallel read of 20 counters, a row to
the SPEC file (flushed), the point callbacks. Prints the median and best per-point time of a
few runs. The machine this runs on may be shared: read the figure as an order of magnitude.

    python bench/stepscan.py [--points 200] [--reps 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time


def database(npos: int, ncounters: int) -> str:
    records = [f'record(ao, "$(P)pos{i}") {{ field(PREC, "4") }}' for i in range(npos)]
    records += [f'record(ai, "$(P)cnt{i}") {{ field(VAL, "{i}") }}' for i in range(ncounters)]
    return '\n'.join(records) + '\n'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--points', type=int, default=200)
    parser.add_argument('--reps', type=int, default=3)
    args = parser.parse_args()
    from epics.testing import SoftIoc, unique_prefix
    from epics.testing.ioc import client_environment, free_port
    port, repeater = free_port(), free_port()
    os.environ.update(client_environment([port], repeater))
    prefix = unique_prefix('bench')
    with SoftIoc(database(3, 20), macros={'P': prefix}, port=port, repeater_port=repeater):
        import numpy as np
        from epics.stepscan import Counter, Positioner, StepScan
        per_point = []
        with tempfile.TemporaryDirectory() as folder:
            for rep in range(args.reps):
                scan = StepScan()
                for i in range(3):
                    scan.add_positioner(Positioner(f'{prefix}pos{i}',
                                                   array=np.arange(args.points) + i + rep))
                for i in range(20):
                    scan.add_counter(Counter(f'{prefix}cnt{i}'))
                scan.run(filename=os.path.join(folder, 'bench.spec'), progress=False)  # warm up
                scan = StepScan()
                for i in range(3):
                    scan.add_positioner(Positioner(f'{prefix}pos{i}',
                                                   array=np.arange(args.points) * 0.5 + i))
                for i in range(20):
                    scan.add_counter(Counter(f'{prefix}cnt{i}'))
                t0 = time.perf_counter()
                result = scan.run(filename=os.path.join(folder, 'bench.spec'), progress=False)
                elapsed = time.perf_counter() - t0
                assert result.points_taken == args.points
                per_point.append(elapsed / args.points)
                print(f'run {rep + 1}: {1e3 * per_point[-1]:.2f} ms/point '
                      f'({args.points} points, whole run incl. set-up)', file=sys.stderr)
    print(f'stepscan per-point overhead, 3 positioners + 20 counters: median '
          f'{1e3 * statistics.median(per_point):.2f} ms, best {1e3 * min(per_point):.2f} ms '
          f'({args.reps} runs of {args.points} points)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
