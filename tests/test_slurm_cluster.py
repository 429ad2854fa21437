"""The Slurm executor on a real one-node Slurm cluster (munged, slurmctld
and slurmd on localhost: tests/support/slurm_cluster.py).

A mini suite of two methods, one seed and 8 iterations goes through
``tools/benchmark.py --executor slurm`` while both jobs are held after the
checkpoint of iteration 6 (tests/support/gate_hook.py): ``squeue`` shows
each job under its run id; one job is cancelled (``scancel``), the other
requeued (``scontrol requeue``, as a preemption does). The requeued job
runs again in the same invocation and resumes at iteration 6; the
cancelled run resumes at iteration 6 when the suite is run again. Both
records then hold what a local run of the same suite records (metrics,
per-class IoU, curves, trajectory), and the progress lines follow Slurm's
states. The local reference run executes while the Slurm jobs are held.
One scenario, several tests that read it: a session fixture, so that
pytest-xdist interleaving other modules' tests on the group's worker does
not tear it down and run it again (a module fixture was set up twice).
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

import pytest

from clst_mmseg.benchmark.store import ResultsStore
from clst_mmseg.benchmark.suite import load_suite
from conftest import ROOT
from support.slurm_cluster import slurm_cluster  # noqa: F401 (fixture)
from test_benchmark_e2e import FAST as E2E_FAST

# one cluster and one scenario: under pytest-xdist keep them on one worker
# (--dist loadgroup)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group('slurm_cluster')]

#: The iteration after which the jobs are held, cancelled and requeued.
HOLD_AT = 6
#: The end-to-end test's short runs at 8 iterations: a checkpoint every 2,
#: validation (and a trajectory point) every 4, on 8 val images.
FAST = {**E2E_FAST, 'train_cfg.max_iters': 8, 'train_cfg.val_interval': 4,
        'param_scheduler.0.end': 8, 'trajectory_points': 2}
METHODS = ('source_only', 'clst')
CANCELLED, REQUEUED = 'source_only', 'clst'
#: Record keys that differ between two executions of one run (when, where,
#: how long, which folder); everything else must be equal.
VOLATILE = ('started_at', 'finished_at', 'host', 'pid', 'wall_time_s',
            'train_time_s', 'test_time_s', 'compute_time_s',
            'peak_memory_mb', 'peak_host_rss_mb', 'work_dir', 'commands',
            'checkpoint', 'attempts', 'attempt', 'resumed', 'hardware',
            'suite')
TIMEOUT_S = 600


def _write_suite(tmp) -> str:
    """Configs that add the hold hook to each method's mini config (the
    hook's module beside each config, as a user's own module is found),
    and the suite that runs them (results and work dirs: per invocation)."""
    for method in METHODS:
        os.makedirs(tmp / 'configs' / method)
        shutil.copy(osp.join(ROOT, 'tests', 'support', 'gate_hook.py'),
                    tmp / 'configs' / method / 'gate_hook.py')
        (tmp / 'configs' / method / 'mini.py').write_text(
            f"_base_ = [{osp.join(ROOT, 'configs', method, 'mini.py')!r}]\n"
            "custom_imports = dict(imports=['clst_mmseg.registration', "
            "'gate_hook'], allow_failed_imports=False)\n"
            "custom_hooks = _base_.custom_hooks + [\n"
            f"    dict(type='HoldAfterIterHook', at={HOLD_AT})]\n")
    suite = tmp / 'suite.py'
    base = osp.join(ROOT, 'configs/benchmarks/_base_/default.py')
    suite.write_text(
        f"_base_ = [{base!r}]\n"
        f"tasks = ['mini']\nmethods = {list(METHODS)!r}\nseeds = [0]\n"
        "device = 'cpu'\ncpu_jobs = 2\n"
        f"configs_root = {str(tmp / 'configs')!r}\n"
        f"overrides = {FAST!r}\n"
        "slurm = dict(cpus_per_task=1, mem_gb=2, timeout_min=30)\n")
    return str(suite)


def _benchmark(suite, tmp, name, executor):
    return [sys.executable, 'tools/benchmark.py', suite, '--executor',
            executor, '--results-dir', str(tmp / name / 'results'),
            '--work-dir', str(tmp / name / 'work'), '--poll-s', '1']


def _until(what, check, timeout=TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out waiting for {what}')
        time.sleep(0.5)


def _queue(cluster):
    """Job name -> (job id, state, reason) as squeue shows them."""
    out = cluster.command('squeue', '-h', '-o', '%i|%j|%T|%r')
    jobs = {}
    for line in out.splitlines():
        job_id, name, state, reason = line.split('|')
        jobs[name] = (job_id, state, reason)
    return jobs


@pytest.fixture(scope='session')
def scenario(slurm_cluster, mini_data_dir, tmp_path_factory):  # noqa: F811
    cluster = slurm_cluster
    tmp = tmp_path_factory.mktemp('slurm_suite')
    suite = _write_suite(tmp)
    gate = tmp / 'gate'
    gate.mkdir()
    env = dict(cluster.env, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               CLST_MMSEG_DATA_DIR=mini_data_dir,
               CLST_TEST_GATE_DIR=str(gate),
               PYTHONPATH=ROOT)
    run_ids = {r.method: r.run_id for r in load_suite(suite).runs}
    for run_id in run_ids.values():
        (gate / f'{run_id}.hold').write_text('')
    timing = {}
    started = time.monotonic()
    log1 = tmp / 'slurm1.out'
    with open(log1, 'w') as out:
        first = subprocess.Popen(_benchmark(suite, tmp, 'slurm', 'slurm'),
                                 cwd=ROOT, env=env, text=True, stdout=out,
                                 stderr=subprocess.STDOUT)
    try:
        _until('both jobs held at their checkpoint', lambda: all(
            (gate / f'{r}.held').exists() for r in run_ids.values()))
        held = _queue(cluster)
        timing['slurm until held'] = time.monotonic() - started
        # the reference, while the held jobs leave the CPUs idle
        local_started = time.monotonic()
        local_env = {k: v for k, v in env.items()
                     if k != 'CLST_TEST_GATE_DIR'}
        local = subprocess.run(_benchmark(suite, tmp, 'local', 'local'),
                               cwd=ROOT, env=local_env, text=True,
                               capture_output=True, timeout=TIMEOUT_S)
        assert local.returncode == 0, (local.stdout[-2000:] +
                                       local.stderr[-3000:])
        timing['local run'] = time.monotonic() - local_started
        started = time.monotonic()
        cancelled = held[run_ids[CANCELLED]][0]
        requeued = held[run_ids[REQUEUED]][0]
        cluster.command('scancel', cancelled)
        cluster.command('scontrol', 'requeue', requeued)

        def requeued_pending():
            queue = _queue(cluster)
            job = queue.get(run_ids[REQUEUED])
            return queue if job and job[1] == 'PENDING' else None

        waiting = _until('the requeued job pending', requeued_pending)
        _until('the benchmark to see the requeue',
               lambda: 'requeued' in log1.read_text())
        # Slurm holds a requeued job ~2 min (BeginTime); start it now
        cluster.command('scontrol', 'update', f'JobId={requeued}',
                        'StartTime=now')
        for run_id in run_ids.values():
            (gate / f'{run_id}.hold').unlink()
        first.wait(TIMEOUT_S)
    finally:
        if first.poll() is None:
            first.kill()
    timing['slurm after cancel/requeue'] = time.monotonic() - started

    started = time.monotonic()
    second = subprocess.run(_benchmark(suite, tmp, 'slurm', 'slurm'),
                            cwd=ROOT, env=env, text=True,
                            capture_output=True, timeout=TIMEOUT_S)
    timing['slurm again'] = time.monotonic() - started
    print('Slurm scenario wall times: ' + ', '.join(
        f'{k} {v:.0f} s' for k, v in timing.items()))
    return dict(
        tmp=tmp, run_ids=run_ids, held=held, waiting=waiting,
        cancelled=cancelled, requeued=requeued,
        first=dict(returncode=first.returncode, out=log1.read_text()),
        second=second,
        local=ResultsStore(str(tmp / 'local' / 'results')),
        slurm=ResultsStore(str(tmp / 'slurm' / 'results')))


def test_squeue_shows_each_job_under_its_run_id(scenario):
    held, run_ids = scenario['held'], scenario['run_ids']
    assert sorted(held) == sorted(run_ids.values())
    assert all(state == 'RUNNING' for _, state, _ in held.values())
    # one array, one task per run
    ids = sorted(job_id for job_id, _, _ in held.values())
    array = ids[0].split('_')[0]
    assert ids == [f'{array}_0', f'{array}_1']
    # the requeued job waits for its begin time under the same name
    assert scenario['waiting'][run_ids[REQUEUED]] == (
        scenario['requeued'], 'PENDING', 'BeginTime')


def _content(record):
    return {k: v for k, v in record.items() if k not in VOLATILE}


def test_records_equal_a_local_run(scenario):
    assert scenario['second'].returncode == 0, (
        scenario['second'].stdout[-2000:] + scenario['second'].stderr[-2000:])
    for method, run_id in scenario['run_ids'].items():
        local = scenario['local'].read('mini', run_id)
        slurm = scenario['slurm'].read('mini', run_id)
        assert slurm['status'] == local['status'] == 'finished', method
        assert slurm['iterations'] == local['iterations'] == 8
        assert slurm['checkpoint']['iteration'] == 8
        # metrics, per-class IoU, curves, trajectory: all content
        assert _content(slurm) == _content(local), method
        assert [p['step'] for p in slurm['trajectory']] == [4, 8]
        assert slurm['metrics'] and slurm['per_class_iou']


@pytest.mark.parametrize('method', [CANCELLED, REQUEUED])
def test_interrupted_jobs_resume_from_their_checkpoint(scenario, method):
    run_id = scenario['run_ids'][method]
    rec = scenario['slurm'].read('mini', run_id)
    assert rec['resumed'] is True
    (before, ) = rec['attempts']
    assert before['status'] == 'interrupted'
    assert before['iterations'] == HOLD_AT
    log = (scenario['tmp'] / 'slurm' / 'work' / 'mini' / run_id /
           'train.log').read_text()
    commands = [ln for ln in log.splitlines() if ln.startswith('# ')]
    assert len(commands) == 2
    assert '--resume' not in commands[0] and '--resume' in commands[1]
    assert f'resumed epoch: 0, iter: {HOLD_AT}' in log
    assert f'Advance dataloader {HOLD_AT} steps' in log


def test_cancelled_run_resumes_on_the_next_invocation(scenario):
    out = scenario['first']['out']
    label = f'mini/{CANCELLED}/s0'
    assert scenario['first']['returncode'] == 1  # one run interrupted
    assert (f'{label}: interrupted - Slurm job {scenario["cancelled"]} '
            'ended CANCELLED; the run resumes from its last checkpoint '
            'when the suite is run again') in out
    second = scenario['second'].stdout
    # only the cancelled run is submitted again; the requeued one is done
    (line, ) = [ln for ln in second.splitlines()
                if ln.startswith('submitted ')]
    assert line.startswith(f'submitted {label} as job ')
    assert line.endswith(f' (name {scenario["run_ids"][CANCELLED]})')


def test_progress_follows_slurm_states(scenario):
    out = scenario['first']['out']
    job = scenario['requeued']
    label = f'mini/{REQUEUED}/s0'
    lines = [ln for ln in out.splitlines() if f'] {label}: ' in ln]
    events = [ln.split('] ', 1)[1] for ln in lines]
    if events[0].startswith(f'{label}: queued'):  # seen before it started
        events = events[1:]
    assert events[:3] == [
        f'{label}: running - job {job} RUNNING on clstnode',
        f'{label}: queued - job {job} PENDING (BeginTime); requeued: the '
        'run resumes from its last checkpoint',
        f'{label}: running - job {job} RUNNING on clstnode']
    assert events[3].startswith(f'{label}: finished - mIoU ')
    assert len(events) == 4
    # the summary counts the requeued job as queued, with an ETA
    requeue_line = next(ln for ln in lines if 'requeued' in ln)
    assert ' 1 queued, 0 remaining, ETA ' in requeue_line
