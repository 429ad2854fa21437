"""The Slurm path without a cluster: what would be submitted (the sbatch
script of the job array) and the same jobs run through submitit's debug
executor, which shares everything with the local path but the
submission."""
import pytest

pytest.importorskip('submitit')

from clst_mmseg.benchmark.cli import main  # noqa: E402
from clst_mmseg.benchmark.execute_slurm import (  # noqa: E402
    RunJob, describe_submission, executor_parameters, sbatch_parameters,
    submit)
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
    assert lines[0] == ('Slurm job array of 4 job(s), one run per job '
                        f'(submitit folder {tmp_path / "sub"}):')
    assert lines[1].startswith(f'  [0] {suite.runs[0].run_id}  '
                               '(mini/source_only/s0, 1 GPU(s)')
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
