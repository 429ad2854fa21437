"""Run a benchmark suite and build its leaderboards.

Examples::

    python tools/benchmark.py              # every method on mini x 3 seeds
    python tools/benchmark.py configs/benchmarks/paper.py --gpus all
    python tools/benchmark.py configs/benchmarks/paper.py --executor slurm
    python tools/benchmark.py --dry-run    # which runs exist / are done
    python tools/benchmark.py --only oracle --skip 'mini/*/s2'
    python tools/benchmark.py --report-only  # tables, plots from records

Finished runs are reused, interrupted ones resume, failed ones are retried.
See docs/benchmark.md.
"""
import sys

from clst_mmseg.benchmark.cli import main

if __name__ == '__main__':
    sys.exit(main())
