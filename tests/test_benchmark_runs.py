"""Executing suites with fake training tools: records, reuse, resume after
a kill, retry after failures, NaN detection, --dry-run, filters, parallel
GPU slots, and two benchmark processes on one results folder."""
import json
import multiprocessing as mp
import os
import os.path as osp
import signal
import sys
import time

import pytest

from clst_mmseg.benchmark.cli import main
from clst_mmseg.benchmark.execute_local import (cpu_threads, parse_gpus,
                                                slots_for)
from clst_mmseg.benchmark.store import ResultsStore
from clst_mmseg.benchmark.suite import load_suite
from test_benchmark_fakes import calls, make_suite


@pytest.fixture
def fake_calls(tmp_path, monkeypatch):
    path = str(tmp_path / 'calls.txt')
    monkeypatch.setenv('FAKE_CALLS', path)
    return path


def _records(root, task='mini'):
    return {r['run_id']: r for r in ResultsStore(str(root / 'results'))
            .records(task)}


def _trains(path):
    return [c for c in calls(path) if c[1] == 'train']


def test_runs_are_recorded_then_reused(tmp_path, fake_calls, capsys):
    suite = make_suite(str(tmp_path))
    assert main([suite]) == 0
    recs = _records(tmp_path)
    assert len(recs) == 4 and len(_trains(fake_calls)) == 4
    ids = {r.run_id for r in load_suite(suite).runs}
    assert set(recs) == ids
    rec = next(r for r in recs.values()
               if r['method'] == 'clst' and r['seed'] == 1)
    assert rec['status'] == 'finished' and rec['reason'] is None
    assert rec['metrics'] == {'aAcc': 90.0, 'mIoU': 51.0, 'mIoU16': 50.0}
    assert rec['per_class_iou'] == {'road': 61.0, 'pole': None, 'car': 41.0,
                                    'sky': 48.0, 'bus': 54.0}
    assert rec['iterations'] == 4 and rec['max_iters'] == 4
    assert rec['curve'] == [{'step': 2, 'mIoU': 53.0},
                            {'step': 4, 'mIoU': 55.0}]
    assert rec['checkpoint']['iteration'] == 4
    assert rec['checkpoint']['selection'] == 'last iterate'
    assert rec['checkpoint']['oracle_selection'] is False
    assert rec['devices'] == {'type': 'cpu', 'count': 1}
    assert rec['peak_memory_kind'] == 'host_rss' and rec['peak_memory_mb'] > 0
    assert rec['wall_time_s'] > 0 and rec['compute_time_s'] > 0
    for key in ('python', 'torch', 'mmsegmentation', 'mmengine'):
        assert key in rec['versions']
    assert 'randomness.seed=1' in rec['cfg_options']
    assert rec['attempts'] == []
    out = capsys.readouterr().out
    assert '| CLST | 2 | 49.5 ± 0.7 |' in out  # mIoU16 of seeds 0, 1
    # a second invocation trains nothing
    assert main([suite]) == 0
    assert len(_trains(fake_calls)) == 4
    assert 'ok* ' in capsys.readouterr().out


def test_retrain_keeps_the_old_record(tmp_path, fake_calls):
    suite = make_suite(str(tmp_path), methods=('clst', ), seeds=(0, ))
    assert main([suite]) == 0
    assert main([suite, '--retrain']) == 0
    rec = next(iter(_records(tmp_path).values()))
    assert len(_trains(fake_calls)) == 2
    assert rec['status'] == 'finished' and len(rec['attempts']) == 1
    assert rec['attempts'][0]['status'] == 'finished'
    assert rec['attempts'][0]['metrics']['mIoU'] == 40.0


def test_killed_run_is_recorded_and_resumed(tmp_path, fake_calls, capsys):
    suite = make_suite(str(tmp_path), methods=('clst', ), seeds=(0, ),
                       modes={'clst': 'kill_once'})
    assert main([suite]) == 1
    rec = next(iter(_records(tmp_path).values()))
    assert rec['status'] == 'interrupted'
    assert rec['reason']['kind'] == 'killed'
    assert 'SIGKILL' in rec['reason']['message']
    capsys.readouterr()
    assert main([suite, '--dry-run']) == 0
    out = capsys.readouterr().out
    assert 'resume' in out and 'interrupted: killed' in out
    assert main([suite]) == 0
    rec = next(iter(_records(tmp_path).values()))
    assert rec['status'] == 'finished' and rec['resumed'] is True
    assert [c[2] for c in _trains(fake_calls)] == ['resume=0', 'resume=1']
    assert [a['reason']['kind'] for a in rec['attempts']] == ['killed']
    # the resumed attempt's compute includes the killed attempt's time
    assert rec['compute_time_s'] > rec['wall_time_s']
    assert rec['curve'] == [{'step': 2, 'mIoU': 42.0},
                            {'step': 4, 'mIoU': 44.0}]
    assert main([suite]) == 0  # finished: skipped
    assert len(_trains(fake_calls)) == 2


@pytest.mark.parametrize('work_dir_after_failure, resumed', [
    ('intact', True),
    ('config changed', False),  # the training dumped another config
    ('no checkpoint', False),
])
def test_failed_run_resumes_from_its_checkpoint(tmp_path, fake_calls,
                                                capsys,
                                                work_dir_after_failure,
                                                resumed):
    """Issue 21.4: a run that failed with an exception (a full disk, a
    crash) is retried from its newest checkpoint when its config is
    unchanged, keeping its work dir; otherwise from scratch."""
    suite = make_suite(str(tmp_path), methods=('clst', ), seeds=(0, ),
                       modes={'clst': 'crash'})
    (run, ) = load_suite(suite).runs
    assert main([suite]) == 1
    rec = next(iter(_records(tmp_path).values()))
    assert rec['status'] == 'failed'
    assert rec['reason']['kind'] == 'exception'
    assert 'RuntimeError: boom in fake training' in rec['reason']['message']
    assert 'Traceback' in rec['reason']['log_tail']
    assert rec['metrics'] is None
    assert osp.isfile(osp.join(run.work_dir, 'iter_2.pth'))
    sentinel = osp.join(run.work_dir, 'keep.txt')
    open(sentinel, 'w').close()
    if work_dir_after_failure == 'config changed':
        with open(osp.join(run.work_dir, 'mini.py'), 'w') as f:
            f.write('train_cfg = dict(max_iters=8)\n')
    elif work_dir_after_failure == 'no checkpoint':
        for name in ('iter_2.pth', 'last_checkpoint'):
            os.remove(osp.join(run.work_dir, name))
    capsys.readouterr()
    assert main([suite, '--dry-run']) == 0
    out = capsys.readouterr().out
    (line, ) = [ln for ln in out.splitlines() if 'mini/clst/s0' in ln]
    assert line.split()[0] == ('resume' if resumed else 'retry')
    assert 'failed: exception: tools/train.py exited with 1' in out
    # the fake crashes at iteration 2: again from scratch, not resumed
    assert main([suite]) == (0 if resumed else 1)
    rec = next(iter(_records(tmp_path).values()))
    assert [c[2] for c in _trains(fake_calls)] == [
        'resume=0', f'resume={int(resumed)}']
    assert osp.exists(sentinel) is resumed
    assert rec['status'] == ('finished' if resumed else 'failed')
    assert rec['resumed'] is resumed
    assert [a['reason']['kind'] for a in rec['attempts']] == ['exception']
    assert rec['compute_time_s'] == pytest.approx(
        rec['wall_time_s'] + rec['attempts'][0]['wall_time_s'])


def test_nan_loss_fails_the_run(tmp_path, fake_calls, capsys):
    """A diverged run is failed with the iteration, left out of the table
    and its comparisons (and said so), and retried only when asked."""
    suite = make_suite(str(tmp_path), seeds=(0, ), modes={'clst': 'nan'})
    assert main([suite]) == 1
    recs = {r['method']: r for r in _records(tmp_path).values()}
    rec = recs['clst']
    assert rec['status'] == 'failed'
    assert rec['reason'] == dict(
        kind='nan_loss', message='loss = nan at iteration 2', iteration=2,
        log_tail=rec['reason']['log_tail'])
    assert not [c for c in calls(fake_calls) if c[1] == 'test'
                and 'clst' in c[0]]
    md = (tmp_path / 'results' / 'mini' / 'leaderboard.md').read_text()
    assert '| CLST |' not in md and 'CLST vs' not in md
    assert ('Not in the table: clst/s0 failed (nan_loss: loss = nan at '
            'iteration 2).') in md
    capsys.readouterr()
    assert main([suite]) == 1  # not retried: the same seed diverges again
    assert len(_trains(fake_calls)) == 2
    out, err = capsys.readouterr()
    assert ('mini/clst/s0: failed: nan_loss: loss = nan at iteration 2; not '
            'retried without --retry-diverged') in err
    assert main([suite, '--dry-run']) == 0
    out = capsys.readouterr().out
    assert 'diverged  mini/clst/s0' in out
    assert out.rstrip().endswith('1 done, 0 to execute, 0 running '
                                 'elsewhere, 1 diverged (not retried)')
    work_dir = next(r.work_dir for r in load_suite(suite).runs
                    if r.method == 'clst')
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))
    assert main([suite, '--retry-diverged']) == 1
    rec = _records(tmp_path)[rec['run_id']]
    assert len(_trains(fake_calls)) == 3
    # from scratch although it has a checkpoint: resuming is bit-exact, the
    # same divergence would follow
    assert _trains(fake_calls)[-1][2] == 'resume=0'
    assert [a['reason']['kind'] for a in rec['attempts']] == ['nan_loss']


def test_best_checkpoint_is_flagged_as_oracle_selection(tmp_path,
                                                        fake_calls):
    suite = make_suite(str(tmp_path), seeds=(0, ),
                       extra="checkpoint = 'best'\n")
    runs = load_suite(suite).runs
    assert '+default_hooks.checkpoint.save_best=mIoU' in runs[0].cfg_options
    assert main([suite]) == 0
    rec = _records(tmp_path)[runs[1].run_id]
    assert rec['checkpoint']['iteration'] == 2 and rec['iterations'] == 4
    assert rec['checkpoint']['selection'] == 'best target-val mIoU'
    assert rec['checkpoint']['oracle_selection'] is True
    # the training's validation after iteration 2 evaluated that checkpoint
    assert rec['checkpoint']['evaluated_by'] == 'training (validation)'
    assert not [c for c in calls(fake_calls) if c[1] == 'test']
    md = (tmp_path / 'results' / 'mini' / 'leaderboard.md').read_text()
    assert '| CLST † | 1 |' in md and '(oracle selection' in md


def test_dry_run_output(tmp_path, fake_calls, capsys):
    suite = make_suite(str(tmp_path), seeds=(0, 1))
    runs = load_suite(suite).runs
    assert main([suite, '--only', 'mini/source_only/s0']) == 0
    capsys.readouterr()
    assert main([suite, '--dry-run']) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f'suite {suite}: 4 runs (1 task(s) x 2 method(s) x 2 '
                      'seed(s)); 4 selected')
    w = max(len(r.run_id) for r in runs)
    rows = [ln.split() for ln in out[3:7]]
    assert out[2].split() == ['status', 'run', 'run', 'id', 'config',
                              'protocol']
    at = [next(i for i, t in enumerate(r) if t.endswith('.py'))
          for r in rows]
    assert [r[:i] for r, i in zip(rows, at)] == [
        ['done', 'mini/source_only/s0', runs[0].run_id],
        ['to', 'run', 'mini/source_only/s1', runs[1].run_id],
        ['to', 'run', 'mini/clst/s0', runs[2].run_id],
        ['to', 'run', 'mini/clst/s1', runs[3].run_id],
    ]
    assert rows[0][at[0]].endswith('configs/source_only/mini.py')
    # each run's protocol in the same line (protocol_summary)
    assert all('iters:' in ln and 'init:random' in ln for ln in out[3:7])
    assert len(out[3].split(runs[0].run_id)[0]) == len(
        out[4].split(runs[1].run_id)[0]) and w > 0  # aligned columns
    assert out[7] == '1 done, 3 to execute, 0 running elsewhere'
    assert len(_trains(fake_calls)) == 1  # dry run trained nothing


def test_only_and_skip_filter_execution(tmp_path, fake_calls, capsys):
    suite = make_suite(str(tmp_path), seeds=(0, 1, 2))
    assert main([suite, '--only', 'clst', '--skip', '*/s2']) == 0
    assert sorted(c[0].split('-')[1] + c[0][-3:] for c in _trains(
        fake_calls)) == ['clst-s0', 'clst-s1']
    assert main([suite, '--only', 'nothing*']) == 2
    assert "--only 'nothing*' matches no run" in capsys.readouterr().err


def test_report_only_without_records(tmp_path, capsys):
    suite = make_suite(str(tmp_path))
    assert main([suite, '--report-only']) == 0
    assert 'mini: no finished run yet' in capsys.readouterr().out
    assert not osp.exists(tmp_path / 'results' / 'mini' / 'leaderboard.md')


def test_report_files(tmp_path, fake_calls):
    suite = make_suite(str(tmp_path))
    assert main([suite]) == 0
    out = tmp_path / 'results' / 'mini'
    for name in ('leaderboard.md', 'leaderboard.tex', 'leaderboard.csv',
                 'leaderboard.html', 'leaderboard_runs.csv',
                 'leaderboard_scores.png', 'leaderboard_per_class.png',
                 'leaderboard_curves.png'):
        assert (out / name).stat().st_size > 0, name
    md = (out / 'leaderboard.md').read_text()
    assert 'CLST vs Source only: +10.0 mIoU16' in md
    assert '![leaderboard_curves.png](leaderboard_curves.png)' in md
    assert 'data:image/png;base64,' in (out / 'leaderboard.html').read_text()
    # rebuilt from the same records, every file is byte-identical (the
    # seed-scatter jitter does not draw from an unseeded RNG)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert main([suite, '--report-only']) == 0
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before


def test_gpu_slots_and_parallel_runs(tmp_path, fake_calls, capsys):
    assert parse_gpus('0,1, 3') == ['0', '1', '3']
    assert slots_for(['0', '1', '2', '3', '4'], 2) == [['0', '1'],
                                                        ['2', '3']]
    with pytest.raises(ValueError, match='distinct device ids'):
        parse_gpus('0,0')
    suite = make_suite(str(tmp_path), seeds=(0, 1))
    assert main([suite, '--gpus', '0,1']) == 2  # device='cpu' suite
    assert 'runs on the CPU' in capsys.readouterr().err
    os.environ['FAKE_SLEEP'] = '0.3'
    try:
        assert main([suite, '--gpus', '0,1', '--device', 'auto']) == 0
    finally:
        del os.environ['FAKE_SLEEP']
    devices = sorted(c[3] for c in _trains(fake_calls))
    assert devices == ['gpus=0', 'gpus=0', 'gpus=1', 'gpus=1']


def test_cpu_jobs_split_the_cores(tmp_path, fake_calls, monkeypatch):
    monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0, 1, 2, 3})
    assert slots_for(None, 1, cpu_jobs=2) == [None, None]
    assert cpu_threads(2) == 2 and cpu_threads(8) == 1
    suite = make_suite(str(tmp_path), seeds=(0, 1))
    monkeypatch.setenv('FAKE_SLEEP', '0.3')
    assert main([suite, '--jobs', '2']) == 0
    trains = _trains(fake_calls)
    assert len(trains) == 4
    assert {c[3] for c in trains} == {'gpus='}  # CPU suite: GPUs hidden
    assert {c[6] for c in trains} == {'threads=2'}


def test_a_harness_error_fails_its_run_and_the_others_go_on(
        tmp_path, fake_calls, monkeypatch, capsys):
    """An exception of the benchmark itself on one run (before the run's
    record exists) fails that run with a line naming the error; it used to
    vanish with its thread, show as running until the end and then stop
    the benchmark before its tables."""
    import clst_mmseg.benchmark.execute_local as local
    real = local.execute

    def execute(spec, **kwargs):
        if spec.method == 'clst' and spec.seed == 1:
            raise KeyError('resolved_config')
        return real(spec, **kwargs)

    monkeypatch.setattr(local, 'execute', execute)
    suite = make_suite(str(tmp_path), seeds=(0, 1))
    assert main([suite, '--jobs', '2']) == 1
    out = capsys.readouterr()
    assert "mini/clst/s1: failed - KeyError: 'resolved_config'" in out.out
    assert ("mini/clst/s1: failed: benchmark_error: KeyError: "
            "'resolved_config'") in out.err
    recs = _records(tmp_path)
    assert sorted((r['method'], r['seed']) for r in recs.values()) == [
        ('clst', 0), ('source_only', 0), ('source_only', 1)]
    assert all(r['status'] == 'finished' for r in recs.values())
    monkeypatch.setattr(local, 'execute', real)
    assert main([suite]) == 0  # no record: the next invocation runs it
    assert len(_records(tmp_path)) == 4


def _bench_process(suite, env, new_session=False):
    """A second benchmark process (forked: no re-import of torch)."""
    ctx = mp.get_context('fork')

    def target():
        if new_session:
            os.setsid()  # its own process group, killed as a whole below
        os.environ.update(env)
        sys.stdout = open(os.devnull, 'w')
        os._exit(main([suite]))

    proc = ctx.Process(target=target)
    proc.start()
    return proc


@pytest.mark.slow
def test_two_benchmark_processes_share_a_results_folder(tmp_path,
                                                        fake_calls):
    suite = make_suite(str(tmp_path), seeds=(0, 1, 2))
    procs = [_bench_process(suite, dict(FAKE_SLEEP='0.25'))
             for _ in range(2)]
    for p in procs:
        p.join(120)
    # 1: the other process had not finished its share when this one ended
    assert {p.exitcode for p in procs} <= {0, 1}
    trained = sorted(c[0] for c in _trains(fake_calls))
    ids = sorted(r.run_id for r in load_suite(suite).runs)
    assert trained == ids  # every run trained exactly once
    # ... by both processes: each fake training logs its parent's pid
    parents = {c[5] for c in _trains(fake_calls)}
    assert parents == {f'ppid={p.pid}' for p in procs}
    recs = _records(tmp_path)
    assert sorted(recs) == ids
    assert all(r['status'] == 'finished' for r in recs.values())
    assert len({r['pid'] for r in recs.values()}) == 2
    folder = tmp_path / 'results' / 'mini' / 'records'
    assert sorted(os.listdir(folder)) == [f'{i}.json' for i in ids]
    for name in os.listdir(folder):
        json.loads((folder / name).read_text())
    assert main([suite]) == 0  # every run finished: nothing left to train
    assert sorted(c[0] for c in _trains(fake_calls)) == ids


@pytest.mark.slow
def test_benchmark_killed_mid_run_resumes(tmp_path, fake_calls, capsys):
    suite = make_suite(str(tmp_path), methods=('clst', ), seeds=(0, ),
                       modes={'clst': 'ok'})
    proc = _bench_process(suite, dict(FAKE_SLEEP='1'), new_session=True)
    deadline = time.time() + 60
    while not _trains(fake_calls) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # inside iteration 1
    os.killpg(proc.pid, signal.SIGKILL)  # the benchmark and its training
    proc.join()
    time.sleep(0.2)
    rec = next(iter(_records(tmp_path).values()))
    assert rec['status'] == 'running'  # nobody wrote a final record
    capsys.readouterr()
    assert main([suite, '--dry-run']) == 0
    out = capsys.readouterr().out
    # killed before its first checkpoint: it restarts from scratch
    assert 'restart' in out and 'interrupted: lost' in out
    assert main([suite]) == 0
    rec = next(iter(_records(tmp_path).values()))
    assert rec['status'] == 'finished'
    assert rec['attempts'][0]['status'] == 'interrupted'
    assert rec['attempts'][0]['reason']['kind'] == 'lost'


def test_metrics_come_from_the_training_validation(tmp_path, fake_calls):
    suite = make_suite(str(tmp_path), methods=('clst', ), seeds=(1, ))
    assert main([suite]) == 0
    rec = next(iter(_records(tmp_path).values()))
    assert rec['checkpoint'] == dict(
        path=rec['checkpoint']['path'], iteration=4,
        selection='last iterate', oracle_selection=False,
        evaluated_by='training (validation)')
    assert rec['metrics'] == {'aAcc': 90.0, 'mIoU': 41.0, 'mIoU16': 40.0}
    assert rec['per_class_iou'] == {'road': 51.0, 'pole': None, 'car': 31.0,
                                    'sky': 38.0, 'bus': 44.0}
    assert rec['test_time_s'] is None and 'test' not in rec['commands']
    train_cmd = rec['commands']['train']
    i = train_cmd.index('--val-metrics-dir')
    assert train_cmd[i + 1] == osp.join(str(tmp_path / 'work' / 'mini'),
                                        rec['run_id'], 'val_metrics')
    assert not [c for c in calls(fake_calls) if c[1] == 'test']


@pytest.mark.parametrize('why', ['no_val_metrics', 'test_differs'])
def test_test_tool_evaluates_what_the_training_did_not(tmp_path, fake_calls,
                                                        why):
    suite = make_suite(str(tmp_path), methods=('clst', ), seeds=(0, ),
                       modes={'clst': 'no_val_metrics' if why ==
                              'no_val_metrics' else 'ok'})
    if why == 'test_differs':
        with open(tmp_path / 'configs' / 'clst' / 'mini.py', 'a') as f:
            f.write("val_dataloader = dict(batch_size=1)\n"
                    "test_dataloader = dict(batch_size=2)\n")
    assert main([suite]) == 0
    rec = next(iter(_records(tmp_path).values()))
    assert rec['checkpoint']['evaluated_by'] == 'tools/test.py'
    assert rec['metrics']['mIoU'] == 40.0 and rec['test_time_s'] > 0
    assert [c[2] for c in calls(fake_calls) if c[1] == 'test'] == [
        'iter_4.pth'
    ]


def test_records_describe_the_tree_of_the_code_that_runs(tmp_path,
                                                         fake_calls,
                                                         monkeypatch,
                                                         capsys):
    """Issue 21.6: started in another checkout (its own tools, configs and
    suite, committed), with this checkout's clst_mmseg imported (as an
    editable install of another checkout does), the record carries the git
    state of the tree that holds the imported package, and the benchmark
    says in one line that it is not the tree it was started in."""
    from clst_mmseg.benchmark.provenance import PACKAGE_ROOT, git_info
    from test_benchmark_report import _committed_repo
    other = tmp_path / 'other'
    suite = make_suite(str(other), methods=('clst', ), seeds=(0, ))
    git = _committed_repo(other, {'.gitignore': 'results/\nwork/\n'})
    monkeypatch.chdir(other)
    assert main([suite]) == 0
    err = capsys.readouterr().err
    warnings = [ln for ln in err.splitlines() if ln.startswith('warning:')]
    assert warnings == [
        f'warning: the clst_mmseg that runs is {PACKAGE_ROOT}/clst_mmseg '
        f'(git tree {osp.realpath(PACKAGE_ROOT)}), not the working tree '
        f'this command started in ({osp.realpath(other)}); records describe '
        'the code that runs']
    rec = next(iter(_records(other).values()))
    assert rec['git']['revision'] != git('rev-parse', 'HEAD').strip()
    assert rec['git']['revision'] == git_info(PACKAGE_ROOT)['revision']
    # started in the tree of the package: nothing to say
    monkeypatch.chdir(PACKAGE_ROOT)
    assert main([suite, '--dry-run']) == 0
    assert 'warning:' not in capsys.readouterr().err


def test_a_result_that_is_not_a_valid_record_fails_its_run(tmp_path,
                                                           fake_calls):
    """A training whose metrics cannot be right (here percentages over 100)
    leaves a failed record that says why, not a 'running' one that the
    store refuses to replace; the values are kept in the reason."""
    from test_benchmark_fakes import make_config
    make_config(str(tmp_path), 'clst', 'mini', base=200.0)
    suite = make_suite(str(tmp_path), methods=('clst', ), seeds=(0, ))
    assert main([suite]) == 1
    (rec, ) = _records(tmp_path).values()
    assert rec['status'] == 'failed'
    assert rec['reason']['kind'] == 'invalid_result'
    assert rec['reason']['message'] == (
        'the result is not a valid record: per_class_iou.road: 210.0 is not '
        'a percentage in [0, 100]')
    assert rec['reason']['values']['metrics']['mIoU'] == 200.0
    assert rec['metrics'] is None and rec['curve'] == []
