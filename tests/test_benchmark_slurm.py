"""The Slurm path without a cluster: what would be submitted (the sbatch
script of the job array), the same jobs run through submitit's debug
executor, which shares everything with the local path but the submission,
and how Slurm's job states (squeue, sacct) drive the progress view and the
outcomes. tests/test_slurm_cluster.py runs a suite on a real cluster."""
import io
import os
import os.path as osp
from pathlib import Path

import pytest

pytest.importorskip('submitit')

from clst_mmseg.benchmark import execute_slurm  # noqa: E402
from clst_mmseg.benchmark.cli import main  # noqa: E402
from clst_mmseg.benchmark.execute_slurm import (  # noqa: E402
    MISSING_POLLS, JobState, RunJob, _seconds, describe_submission,
    executor_parameters, parse_sacct, parse_squeue, query_states,
    sbatch_parameters, submit, wait)
from clst_mmseg.benchmark.progress import Progress  # noqa: E402
from clst_mmseg.benchmark.run_one import _verify_config, execute  # noqa
from clst_mmseg.benchmark.spec import RunSpec  # noqa: E402
from clst_mmseg.benchmark.store import ResultsStore  # noqa: E402
from clst_mmseg.benchmark.suite import load_suite  # noqa: E402
from test_benchmark_fakes import calls, make_suite  # noqa: E402


def test_submission_description(tmp_path):
    suite = load_suite(make_suite(str(tmp_path), seeds=(0, 1)))
    params = executor_parameters(
        dict(timeout_min=60, mem_gb=32, slurm_partition='gpu',
             slurm_array_parallelism=3), gpus_per_run=2, device='cuda',
        name='benchmark-paper')
    assert sbatch_parameters(params) == dict(
        time=60, nodes=1, ntasks_per_node=1, cpus_per_task=8,
        array_parallelism=3, job_name='benchmark-paper', gpus_per_node=2,
        mem='32GB', partition='gpu')
    text = describe_submission(suite.runs, params, str(tmp_path / 'sub'))
    lines = text.splitlines()
    assert lines[0] == ('Slurm job array of 4 job(s), one run per job, '
                        'each named after its run id once submitted '
                        f'(submitit folder {tmp_path / "sub"}):')
    assert lines[1].startswith(f'  [0] {suite.runs[0].run_id}  '
                               '(mini/source_only/s0, CPU, work dir')
    assert lines[4].startswith(f'  [3] {suite.runs[3].run_id}')
    for flag in ('#SBATCH --array=0-3%3', '#SBATCH --gpus-per-node=2',
                 '#SBATCH --partition=gpu', '#SBATCH --time=60',
                 '#SBATCH --mem=32GB', '#SBATCH --job-name=benchmark-paper',
                 '#SBATCH --ntasks-per-node=1', '#SBATCH --cpus-per-task=8',
                 '#SBATCH --signal=USR2@90'):
        assert flag in lines, flag
    assert any('-m submitit.core._submit' in ln and ln.startswith('srun')
               for ln in lines)
    # CPU suites ask for no GPU
    cpu = executor_parameters({}, gpus_per_run=1, device='cpu', name='x')
    assert 'gpus_per_node' not in cpu
    with pytest.raises(ValueError, match="unknown parameter 'partition'"):
        executor_parameters(dict(partition='gpu'), 1, 'cuda', 'x')


def test_dry_run_with_slurm_executor(tmp_path, capsys):
    suite = make_suite(str(tmp_path), seeds=(0, ), extra=(
        "slurm = dict(slurm_partition='big')\n"))
    assert main([suite, '--dry-run', '--executor', 'slurm']) == 0
    out = capsys.readouterr().out
    assert 'Slurm job array of 2 job(s)' in out
    assert '#SBATCH --partition=big' in out


def test_jobs_run_through_the_shared_path(tmp_path, monkeypatch):
    monkeypatch.setenv('FAKE_CALLS', str(tmp_path / 'calls.txt'))
    suite = load_suite(make_suite(str(tmp_path), seeds=(0, )))
    params = executor_parameters({}, 1, 'cpu', 'test')
    jobs = submit(suite.runs, params, str(tmp_path / 'sub'),
                  cluster='debug')
    outs = [job.result() for job in jobs]
    assert [o['state'] for o in outs] == ['finished', 'finished']
    recs = ResultsStore(suite.results_dir).records('mini')
    assert sorted(r['run_id'] for r in recs) == sorted(
        r.run_id for r in suite.runs)
    # a requeued job resumes; it never retrains from scratch
    delayed = RunJob().checkpoint(suite.runs[0].to_dict(), True)
    assert delayed.args == (suite.runs[0].to_dict(), False)


def test_cli_with_debug_cluster(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('FAKE_CALLS', str(tmp_path / 'calls.txt'))
    suite = make_suite(str(tmp_path), seeds=(0, ))
    argv = [suite, '--executor', 'slurm', '--slurm-cluster', 'debug']
    assert main(argv) == 0
    assert len([c for c in calls(str(tmp_path / 'calls.txt'))
                if c[1] == 'train']) == 2
    out = capsys.readouterr().out
    assert 'submitted mini/source_only/s0 as job' in out
    assert '| CLST | 1 | 49.0 |' in out  # mIoU16 of seed 0


class _FakeJob:
    """A submitted job as :func:`wait` uses it: an id, submitit's result
    pickle path and the result."""

    def __init__(self, job_id, result=None, folder='/nonexistent'):
        self.job_id, self._result = job_id, result
        self.paths = type('Paths', (), dict(
            result_pickle=Path(folder, f'{job_id}_result.pkl'),
            stderr=Path(folder, f'{job_id}_log.err')))()

    def result(self):
        return self._result


def test_slurm_time_and_queue_parsing():
    assert [_seconds(t) for t in ('0:00', '5:07', '2:05:07', '1-02:05:07',
                                  'INVALID')] == [0.0, 307.0, 7507.0,
                                                  93907.0, None]
    states = parse_squeue('7_0|RUNNING|None|1:05|node1\n'
                          '7_1|PENDING|BeginTime|0:00|\n'
                          'not a line\n')
    assert states == {'7_0': JobState('RUNNING', '', 65.0, 'node1'),
                      '7_1': JobState('PENDING', 'BeginTime', 0.0, '')}
    assert parse_sacct('7_2|CANCELLED by 0|00:00:12|node1\n') == {
        '7_2': JobState('CANCELLED', '', 12.0, 'node1')}


def test_query_states_falls_back_to_sacct(tmp_path, monkeypatch):
    """squeue lists what Slurm still holds; sacct (accounting) the jobs it
    forgot; a job neither knows is left out."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name, text in (
            ('squeue', 'echo "$@" >> {log}; echo "7_0|RUNNING|None|0:09|n1"'),
            ('sacct', 'echo "$@" >> {log}; echo "7_1|COMPLETED|00:01:00|n1"')):
        script = bin_dir / name
        script.write_text('#!/bin/sh\n' + text.format(
            log=tmp_path / f'{name}.args') + '\n')
        script.chmod(0o755)
    monkeypatch.setenv('PATH', f'{bin_dir}:{os.environ["PATH"]}')
    assert query_states(['7_0', '7_1', '7_2']) == {
        '7_0': JobState('RUNNING', '', 9.0, 'n1'),
        '7_1': JobState('COMPLETED', '', 60.0, 'n1')}
    assert (tmp_path / 'squeue.args').read_text().split() == [
        '-h', '-r', '--states=all', '-j', '7', '-o', '%i|%T|%r|%M|%N']
    assert (tmp_path / 'sacct.args').read_text().split()[-2:] == ['-j', '7']


def test_wait_follows_slurm_states(tmp_path, monkeypatch):
    """Queued, running (the ETA counts the time Slurm says the job ran),
    requeued, cancelled (its run's record says interrupted), completed."""
    monkeypatch.setenv('FAKE_CALLS', str(tmp_path / 'calls.txt'))
    suite = load_suite(make_suite(str(tmp_path), seeds=(0, ),
                                  modes=dict(clst='kill_once')))
    done, killed = (execute(r) for r in suite.runs)
    assert (done.state, killed.state) == ('finished', 'interrupted')
    jobs = [_FakeJob('7_0', done.as_dict()), _FakeJob('7_1')]
    polls = iter([
        dict(j0=('PENDING', 'Priority', 0), j1=('PENDING', 'Resources', 0)),
        dict(j0=('RUNNING', '', 30), j1=('PENDING', 'Resources', 0)),
        dict(j0=('PENDING', 'BeginTime', 0), j1=('RUNNING', '', 10)),
        dict(j0=('RUNNING', '', 0), j1=('CANCELLED', '', 12)),
        dict(j0=('COMPLETED', '', 50)),
    ])

    def states(live):
        now = next(polls)
        return {j.job_id: JobState(now[f'j{j.job_id[-1]}'][0],
                                   now[f'j{j.job_id[-1]}'][1],
                                   float(now[f'j{j.job_id[-1]}'][2]), 'n1')
                for j in live if f'j{j.job_id[-1]}' in now}

    out = io.StringIO()
    progress = Progress(suite.runs, priors={('mini', 'source_only'): 100.0,
                                            ('mini', 'clst'): 100.0},
                        out=out)
    outcomes = wait(jobs, suite.runs, progress, poll_s=0, states=states)
    assert [o.state for o in outcomes] == ['finished', 'interrupted']
    so, cl = 'mini/source_only/s0', 'mini/clst/s0'
    assert out.getvalue().splitlines() == [
        '[0/2 done, 0 running, 0 failed, 1 queued, 1 remaining, ETA 0:03:20]'
        f' {so}: queued - job 7_0 PENDING (Priority)',
        '[0/2 done, 0 running, 0 failed, 2 queued, 0 remaining, ETA 0:03:20]'
        f' {cl}: queued - job 7_1 PENDING (Resources)',
        # 100 s per run, 30 s of it already run
        '[0/2 done, 1 running, 0 failed, 1 queued, 0 remaining, ETA 0:02:50]'
        f' {so}: running - job 7_0 RUNNING on n1',
        '[0/2 done, 0 running, 0 failed, 2 queued, 0 remaining, ETA 0:03:20]'
        f' {so}: queued - job 7_0 PENDING (BeginTime); requeued: the run '
        'resumes from its last checkpoint',
        '[0/2 done, 1 running, 0 failed, 1 queued, 0 remaining, ETA 0:03:10]'
        f' {cl}: running - job 7_1 RUNNING on n1',
        '[0/2 done, 2 running, 0 failed, 0 remaining, ETA 0:01:35]'
        f' {so}: running - job 7_0 RUNNING on n1',
        '[0/2 done, 1 running, 0 failed, 1 interrupted, 0 remaining, '
        f'ETA 0:00:50] {cl}: interrupted - Slurm job 7_1 ended CANCELLED; '
        'the run resumes from its last checkpoint when the suite is run '
        'again',
        '[1/2 done, 0 running, 0 failed, 1 interrupted, 0 remaining, '
        f'ETA 0:00:00] {so}: finished - mIoU 40.00, mIoU16 39.00',
    ]
    assert progress.slots == 2  # both were seen running at once


def test_job_vanished_from_squeue_is_over(tmp_path, monkeypatch):
    """A job squeue no longer lists, on a cluster without accounting, is
    over after a few polls; its outcome is its run's record."""
    monkeypatch.setenv('FAKE_CALLS', str(tmp_path / 'calls.txt'))
    suite = load_suite(make_suite(str(tmp_path), methods=('clst', ),
                                  seeds=(0, ), modes=dict(clst='kill_once')))
    assert execute(suite.runs[0]).state == 'interrupted'
    seen = []

    def states(live):
        seen.append(1)
        return {}

    (outcome, ) = wait([_FakeJob('8_0')], suite.runs,
                       Progress(suite.runs, out=io.StringIO()), poll_s=0,
                       states=states)
    assert len(seen) == MISSING_POLLS
    assert outcome.state == 'interrupted'
    assert outcome.record['reason']['message'].startswith(
        'Slurm job 8_0 ended UNKNOWN')


def test_run_job_threads_and_requeue(monkeypatch):
    """A job's CPU run gets the job's cores as threads; a job Slurm
    requeued resumes even where the first submission said retrain."""
    got = {}

    def fake_execute(run, retrain, env, retry_diverged):
        got.update(retrain=retrain, env=env)
        return type('Out', (), dict(as_dict=lambda self: {}))()

    monkeypatch.setattr(execute_slurm, 'execute', fake_execute)
    spec = RunSpec('r', 'mini', 'm', 0, 'c.py', 'h', [], {}, {}, '/w', '/r',
                   't.py', 'e.py', device='cpu').to_dict()
    monkeypatch.setenv('SLURM_CPUS_PER_TASK', '3')
    monkeypatch.delenv('SLURM_RESTART_COUNT', raising=False)
    RunJob()(spec, True)
    assert got == dict(retrain=True, env={'OMP_NUM_THREADS': '3',
                                          'MKL_NUM_THREADS': '3'})
    monkeypatch.setenv('SLURM_RESTART_COUNT', '1')
    RunJob()(spec, True)
    assert got['retrain'] is False


def test_resumed_training_verifies_its_config(tmp_path):
    """--resume sets resume and load_from in the config the training dumps:
    the record still says the training trained the run's config."""
    suite = load_suite(make_suite(str(tmp_path), seeds=(0, )))
    spec = suite.runs[0]
    os.makedirs(spec.work_dir)
    with open(spec.config) as f:
        text = f.read()
    dumped = osp.join(spec.work_dir, osp.basename(spec.config))
    with open(dumped, 'w') as f:
        f.write(text + "resume = True\nload_from = '/w/iter_2.pth'\n")
    assert _verify_config(spec) is True
    with open(dumped, 'w') as f:
        f.write(text + "resume = True\nextra_key = 1\n")
    assert _verify_config(spec) is False
