"""A progress view of the whole run matrix: done / running / failed /
queued / remaining with an ETA, one line per event and a task x method x
seed grid."""
import sys
import threading
import time
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, TextIO

from .spec import RunSpec

#: Cell text of each state in the grid.
CELLS = dict(pending='.', queued='PEND', running='RUN', finished='ok',
             reused='ok*', failed='FAIL', interrupted='INT', busy='busy')


def outcome_note(state: str, record: Optional[Dict]) -> str:
    """What a run's progress line says after it ended: its mIoUs when
    finished, else the reason its record gives."""
    if state == 'finished':
        metrics = (record or {}).get('metrics') or {}
        return ', '.join(f'{k} {v:.2f}' for k, v in metrics.items()
                         if k.startswith('mIoU') and v is not None)
    if record and record.get('reason'):
        return record['reason']['message']
    return ''


def _hms(seconds: Optional[float]) -> str:
    if seconds is None:
        return '?'
    seconds = int(round(seconds))
    return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


class Progress:
    """Tracks the states of a suite's runs and prints them.

    Args:
        runs (list[RunSpec]): The runs to execute.
        slots (int): How many run at once (for the ETA; the Slurm executor
            raises it to the most jobs it saw running at once).
        priors (dict): ``(task, method)`` -> seconds per run known from
            earlier records (for the ETA before anything finished here).
        out (TextIO): Where to print. Defaults to stdout.
    """

    def __init__(self, runs: Sequence[RunSpec], slots: int = 1,
                 priors: Optional[Dict] = None,
                 out: Optional[TextIO] = None) -> None:
        self.runs = list(runs)
        self.slots = max(1, slots)
        self.priors = dict(priors or {})
        self.out = out or sys.stdout
        self.state = {r.run_id: 'pending' for r in self.runs}
        self.started: Dict[str, float] = {}
        self.took: Dict[tuple, List[float]] = defaultdict(list)
        self._lock = threading.Lock()

    def counts(self) -> Dict[str, int]:
        c = defaultdict(int)
        for s in self.state.values():
            c[s] += 1
        return c

    def _estimate(self, run: RunSpec) -> Optional[float]:
        key = (run.task, run.method)
        if self.took[key]:
            return sum(self.took[key]) / len(self.took[key])
        if key in self.priors:
            return self.priors[key]
        every = [t for ts in self.took.values() for t in ts]
        return sum(every) / len(every) if every else None

    def eta_s(self) -> Optional[float]:
        """Seconds until every remaining run is done (None: unknown)."""
        total = 0.0
        for r in self.runs:
            s = self.state[r.run_id]
            if s not in ('pending', 'queued', 'running'):
                continue
            est = self._estimate(r)
            if est is None:
                return None
            if s == 'running':
                est = max(0.0, est - (time.monotonic() -
                                      self.started[r.run_id]))
            total += est
        return total / self.slots

    def summary(self) -> str:
        c = self.counts()
        done = c['finished'] + c['reused']
        interrupted = (f'{c["interrupted"]} interrupted, '
                       if c['interrupted'] else '')
        queued = f'{c["queued"]} queued, ' if c['queued'] else ''
        return (f'[{done}/{len(self.runs)} done'
                f'{" (%d reused)" % c["reused"] if c["reused"] else ""}, '
                f'{c["running"]} running, {c["failed"]} failed, '
                f'{interrupted}{queued}{c["pending"]} remaining'
                f'{", %d elsewhere" % c["busy"] if c["busy"] else ""}, '
                f'ETA {_hms(self.eta_s())}]')

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def set(self, run: RunSpec, state: str, note: str = '',
            elapsed_s: Optional[float] = None) -> None:
        """Record a state change and print a line about it.

        Args:
            run (RunSpec): The run.
            state (str): Its new state (a key of :data:`CELLS`).
            note (str): Said after the state.
            elapsed_s (float, optional): For ``running``: how long it has
                run already (a Slurm job seen running for the first time).
        """
        with self._lock:
            if state == 'running':
                self.started[run.run_id] = time.monotonic() - (elapsed_s
                                                               or 0.0)
            elif state == 'finished' and run.run_id in self.started:
                self.took[(run.task, run.method)].append(
                    time.monotonic() - self.started[run.run_id])
            self.state[run.run_id] = state
            if state != 'reused':
                self._print(f'{self.summary()} {run.label}: {state}'
                            f'{" - " + note if note else ""}')

    def heartbeat(self) -> None:
        with self._lock:
            self._print(self.summary())

    def grid(self) -> str:
        """The matrix, one block per task (rows: methods; columns: seeds)."""
        lines = []
        tasks = list(dict.fromkeys(r.task for r in self.runs))
        for task in tasks:
            runs = [r for r in self.runs if r.task == task]
            seeds = list(dict.fromkeys(r.seed for r in runs))
            methods = list(dict.fromkeys(r.method for r in runs))
            width = max(len(m) for m in methods + [task])
            lines.append(f'{task:<{width}}  ' +
                         ' '.join(f's{s:<4}' for s in seeds))
            cell = {(r.method, r.seed): CELLS[self.state[r.run_id]]
                    for r in runs}
            for m in methods:
                lines.append(f'{m:<{width}}  ' + ' '.join(
                    f'{cell.get((m, s), ""):<5}' for s in seeds))
        lines.append('(ok* reused, RUN running, PEND queued (Slurm), FAIL '
                     'failed, INT interrupted, . to do)')
        return '\n'.join(lines)
