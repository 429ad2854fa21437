"""The benchmark under faults and bad input, with the fake tools: a
diverged run never reaches a table, one invalid record never blocks the
rest, read-only / full / uncreatable folders end in one line (and --dry-run
still works), compute is summed across attempts, a run busy elsewhere is
not reported as done, an interrupted run is shown as interrupted."""
import errno
import json
import os
import os.path as osp

import pytest

from clst_mmseg.benchmark.cli import main
from clst_mmseg.benchmark.progress import Progress
from clst_mmseg.benchmark.store import ResultsStore
from clst_mmseg.benchmark.suite import load_suite
from test_benchmark_fakes import calls, make_read_only, make_suite


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


@pytest.mark.parametrize('where, kind, message', [
    ('loss', 'nan_loss', 'decode.loss_ce = nan at iteration 3'),
    ('weights', 'nonfinite_weights',
     'non-finite weights (decode.loss_ce) at iteration 3'),
])
def test_unlogged_divergence_fails_the_run(tmp_path, fake_calls, where,
                                           kind, message):
    """The training's own check (every iteration, not the logged ones)
    stops the run; nothing non-finite reached the logged scalars."""
    from test_benchmark_fakes import make_config
    make_config(str(tmp_path), 'clst', 'mini', mode='quiet_nan',
                where=where)
    suite = make_suite(str(tmp_path), methods=('clst', ), seeds=(0, ))
    assert main([suite]) == 1
    rec = next(iter(_records(tmp_path).values()))
    assert all(c['mIoU'] < 100 for c in rec['curve'])
    assert rec['status'] == 'failed'
    assert (rec['reason']['kind'], rec['reason']['message'],
            rec['reason']['iteration']) == (kind, message, 3)


def test_non_finite_weights_refused_by_the_test_fail_the_run(tmp_path,
                                                             fake_calls):
    from test_benchmark_fakes import make_config
    # a training that did not evaluate its last checkpoint (else its own
    # metrics are recorded and the test tool never runs)
    make_config(str(tmp_path), 'clst', 'mini', mode='no_val_metrics',
                test='nonfinite')
    suite = make_suite(str(tmp_path), methods=('clst', ), seeds=(0, ))
    assert main([suite]) == 1
    rec = next(iter(_records(tmp_path).values()))
    assert rec['status'] == 'failed' and rec['metrics'] is None
    assert rec['reason']['kind'] == 'nonfinite_weights'
    assert rec['reason']['iteration'] == 4
    assert rec['reason']['message'].startswith('non-finite weights in ')


def test_invalid_records_never_block_the_rest(tmp_path, fake_calls,
                                               capsys):
    suite = make_suite(str(tmp_path), seeds=(0, 1))
    assert main([suite]) == 0
    runs = load_suite(suite).runs
    folder = tmp_path / 'results' / 'mini' / 'records'
    bad = {runs[0].run_id: '{}', runs[1].run_id: '[]',
           runs[2].run_id: '{"status": "finished"}'}
    for run_id, text in bad.items():
        (folder / f'{run_id}.json').write_text(text)
    (folder / f'{runs[3].run_id}.json').write_text(
        (folder / f'{runs[3].run_id}.json').read_text()[:100])  # truncated
    capsys.readouterr()
    # a dry run reports each in one line, moves nothing and does not crash
    assert main([suite, '--dry-run']) == 0
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 4 and all(
        ln.startswith('warning: invalid record ') and
        ln.endswith('left in place (read-only look): its run counts as not '
                    'run') for ln in lines)
    assert f'{folder}/{runs[0].run_id}.json (the record: missing key' \
        in lines[0]
    # its work dir keeps its checkpoint: the run resumes, not retrains
    assert sum(ln.startswith('resume ') for ln in out.splitlines()) == 4
    assert 'no valid record; its work dir has a checkpoint' in out
    # a report from the remaining records does not crash either
    assert main([suite, '--report-only']) == 0
    moved = sorted(n for n in os.listdir(tmp_path / 'results' / 'mini' /
                                         'invalid_records')
                   if n.endswith('.json'))
    assert len(moved) == 4 and [m.split('.')[0] for m in moved] == sorted(
        r.run_id for r in runs)
    assert 'mini: no finished run yet' in capsys.readouterr().out
    assert main([suite]) == 0  # planned again (resumed), nothing lost
    recs = _records(tmp_path)
    assert len(recs) == 4 and all(r['status'] == 'finished'
                                  for r in recs.values())
    assert all(r['resumed'] for r in recs.values())
    assert [c[2] for c in _trains(fake_calls)] == ['resume=0'] * 4 + [
        'resume=1'] * 4


def test_invalid_record_without_checkpoint_is_trained_again(tmp_path,
                                                            fake_calls,
                                                            capsys):
    suite = make_suite(str(tmp_path), methods=('clst', ), seeds=(0, ))
    (run, ) = load_suite(suite).runs
    folder = tmp_path / 'results' / 'mini' / 'records'
    folder.mkdir(parents=True)
    (folder / f'{run.run_id}.json').write_text('{"status": "finished"}')
    assert main([suite]) == 0  # not counted as done
    assert [c[2] for c in _trains(fake_calls)] == ['resume=0']
    assert _records(tmp_path)[run.run_id]['status'] == 'finished'
    assert "missing key 'schema'); moved to " in capsys.readouterr().err


def _edit(path, change):
    rec = json.loads(path.read_text())
    change(rec)
    path.write_text(json.dumps(rec))


def test_records_wrong_by_meaning_are_set_aside_and_named(tmp_path,
                                                          fake_calls,
                                                          capsys):
    """Issue 21.1: an mIoU of 150, and a source-only record copied over a
    CLST record's file with only its run id edited, never reach the table:
    each is set aside, the footer says which run is missing and why, and
    the run is planned again (source-only is not counted twice)."""
    suite = make_suite(str(tmp_path), seeds=(0, ))
    so, clst = load_suite(suite).runs
    assert main([suite]) == 0
    folder = tmp_path / 'results' / 'mini' / 'records'
    md = tmp_path / 'results' / 'mini' / 'leaderboard.md'

    _edit(folder / f'{clst.run_id}.json',
          lambda r: r['metrics'].update(mIoU=150.0))
    capsys.readouterr()
    assert main([suite, '--report-only']) == 0
    assert 'metrics.mIoU: 150.0 is not a percentage in [0, 100]); moved ' \
        'to ' in capsys.readouterr().err
    text = md.read_text()
    assert '| CLST |' not in text and 'CLST vs' not in text
    (kept, ) = [n for n in os.listdir(folder.parent / 'invalid_records')
                if n.endswith('.json')]
    assert ('Not in the table: clst/s0: its record was invalid '
            '(metrics.mIoU: 150.0 is not a percentage in [0, 100]; kept as '
            f'invalid_records/{kept}); the run is planned again.') in text
    assert main([suite, '--report-only']) == 0
    assert md.read_text() == text  # the footer comes from the folder
    assert main([suite]) == 0  # planned again: resumed from its checkpoint
    assert [c[2] for c in _trains(fake_calls)][-1] == 'resume=1'
    assert '| CLST | 1 |' in md.read_text()
    assert 'Not in the table' not in md.read_text()

    # a source-only record under CLST's file name, only its run id edited
    text = (folder / f'{so.run_id}.json').read_text()
    (folder / f'{clst.run_id}.json').write_text(
        text.replace(so.run_id, clst.run_id))
    capsys.readouterr()
    assert main([suite, '--dry-run']) == 0
    out = capsys.readouterr().out
    assert out.count('no valid record; its work dir has a checkpoint') == 1
    assert main([suite, '--report-only']) == 0
    text = md.read_text()
    assert '| *Source only* | 1 |' in text and '| CLST |' not in text
    assert (f"clst/s0: its record was invalid (run_id '{clst.run_id}' does "
            'not match its task, method, config hash and seed '
            f'({so.run_id}); kept as invalid_records/') in text


def test_read_only_results_folder(tmp_path, fake_calls, monkeypatch,
                                  capsys):
    suite = make_suite(str(tmp_path), seeds=(0, ))
    assert main([suite, '--only', 'source_only']) == 0
    capsys.readouterr()
    make_read_only(monkeypatch, tmp_path / 'results')
    assert main([suite, '--dry-run']) == 0  # works on a read-only folder
    out, err = capsys.readouterr()
    assert '1 done, 1 to execute' in out and err == ''
    assert main([suite]) == 2
    out, err = capsys.readouterr()
    assert err == (f'error: cannot write {tmp_path}/results/mini/records: '
                   'read-only file system\n')
    assert len(_trains(fake_calls)) == 1  # nothing ran
    assert main([suite, '--report-only']) == 1
    err = capsys.readouterr().err
    assert err.startswith(f'error: cannot write {tmp_path}/results/mini/')
    assert err.count('\n') == 1


def test_work_dir_that_cannot_be_created(tmp_path, fake_calls, capsys):
    (tmp_path / 'afile').write_text('x')
    suite = make_suite(str(tmp_path), seeds=(0, ))
    assert main([suite, '--work-dir', str(tmp_path / 'afile' / 'w')]) == 2
    assert capsys.readouterr().err == (
        f'error: {tmp_path}/afile/w/mini: work dir cannot be created: Not a '
        'directory\n')
    assert _trains(fake_calls) == []


def test_disk_full_while_writing_a_record(tmp_path, fake_calls,
                                          monkeypatch, capsys):
    import tempfile
    suite = make_suite(str(tmp_path), methods=('clst', ), seeds=(0, ))
    (run, ) = load_suite(suite).runs
    real = tempfile.mkstemp
    n = []

    def mkstemp(*args, **kwargs):  # 'running' record, final record
        if kwargs.get('prefix') == '.tmp-':  # not a probe or a tree's patch
            n.append(1)
            if len(n) == 2:
                raise OSError(errno.ENOSPC, 'No space left on device')
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, 'mkstemp', mkstemp)
    assert main([suite]) == 1
    path = tmp_path / 'results' / 'mini' / 'records' / f'{run.run_id}.json'
    assert capsys.readouterr().err == (
        f'error: disk full while writing {path} (No space left on device)\n')
    monkeypatch.setattr(tempfile, 'mkstemp', real)
    # the run was trained; its record says running: the next invocation
    # resumes from its checkpoint instead of training it again
    assert main([suite]) == 0
    assert [c[2] for c in _trains(fake_calls)] == ['resume=0', 'resume=1']
    rec = _records(tmp_path)[run.run_id]
    assert rec['status'] == 'finished'
    # the attempt whose record was never written is in the attempt ledger,
    # finished, with its measured time, and it counts
    (first, ) = rec['attempts']
    assert first['status'] == 'finished'
    assert first['wall_time_estimated'] is False
    assert rec['compute_time_s'] == pytest.approx(rec['wall_time_s'] +
                                                  first['wall_time_s'])


def test_compute_time_sums_every_attempt(tmp_path, fake_calls):
    """Issue 21.3: every attempt counts, whatever became of its record (set
    aside as invalid, lost with its process); a retrain starts a new
    count. The attempts come from the ledger beside the records."""
    suite = make_suite(str(tmp_path), methods=('clst', ), seeds=(0, ))
    (run, ) = load_suite(suite).runs
    store = ResultsStore(str(tmp_path / 'results'))
    path = tmp_path / 'results' / 'mini' / 'records' / f'{run.run_id}.json'
    assert main([suite]) == 0
    first = store.read('mini', run.run_id)['wall_time_s']
    # the finished record is set aside; the run is resumed
    path.write_text('{}')
    assert main([suite]) == 0
    rec = store.read('mini', run.run_id)
    assert [a['status'] for a in rec['attempts']] == ['finished']
    assert rec['attempts'][0]['wall_time_s'] == first
    assert rec['compute_time_s'] == pytest.approx(rec['wall_time_s'] + first)
    total = rec['compute_time_s']
    # an attempt whose process died: it wrote its start to the ledger and
    # a running record, its last file 30 s after it started
    started = '2026-01-01T00:00:00+00:00'
    store.log_attempt('mini', run.run_id, dict(
        event='start', attempt='dead', started_at=started, resumed=True,
        new_count=False))
    rec.update(status='running', reason=None, wall_time_s=None,
               started_at=started, metrics=None, per_class_iou=None,
               checkpoint=None, attempt='dead')
    store.write(rec)
    t = 1767225600 + 30  # 2026-01-01T00:00:30Z
    for folder, _, files in os.walk(run.work_dir):
        for name in files:
            os.utime(osp.join(folder, name), (t, t))
    assert main([suite]) == 0
    rec = store.read('mini', run.run_id)
    lost = rec['attempts'][-1]
    assert lost['reason']['kind'] == 'lost'
    assert lost['wall_time_s'] == pytest.approx(30.0)
    assert lost['wall_time_estimated'] is True
    assert rec['compute_time_s'] == pytest.approx(rec['wall_time_s'] + 30.0 +
                                                  total)
    # a retrain starts a new count: the finished attempt had its own result
    assert main([suite, '--retrain']) == 0
    rec = store.read('mini', run.run_id)
    assert rec['compute_time_s'] == pytest.approx(rec['wall_time_s'])
    retrained = rec['wall_time_s']
    path.write_text('{}')
    assert main([suite]) == 0
    rec = store.read('mini', run.run_id)
    assert rec['compute_time_s'] == pytest.approx(rec['wall_time_s'] +
                                                  retrained)
    assert [a['status'] for a in rec['attempts']] == ['finished'] * 2 + [
        'interrupted'] + ['finished'] * 2
    ledger = store.attempt_log('mini', run.run_id)
    assert [e['event'] for e in ledger] == ['start', 'end'] * 6


def test_run_busy_elsewhere_is_not_reported_as_done(tmp_path, fake_calls,
                                                    capsys):
    suite = make_suite(str(tmp_path), methods=('clst', ), seeds=(0, 1))
    runs = load_suite(suite).runs
    store = ResultsStore(str(tmp_path / 'results'))
    lock = store.lock('mini', runs[0].run_id)
    assert lock.acquire()  # as a training process of another benchmark
    try:
        from test_benchmark_fakes import valid_record
        rec = valid_record(status='running', pid=4242, host='elsewhere',
                           resolved_config=runs[0].resolved_config)
        assert rec['run_id'] == runs[0].run_id
        store.write(rec)
        assert main([suite]) == 1
        assert capsys.readouterr().err == (
            'mini/clst/s0: executed by another process (pid 4242 on '
            'elsewhere), not finished yet\n')
        assert [c[0] for c in _trains(fake_calls)] == [runs[1].run_id]
    finally:
        lock.release()


def test_progress_shows_interrupted_runs_as_interrupted(tmp_path):
    import io
    suite = make_suite(str(tmp_path), seeds=(0, 1))
    runs = load_suite(suite).runs
    out = io.StringIO()
    progress = Progress(runs, out=out)
    progress.set(runs[0], 'interrupted', 'stopped by the benchmark')
    progress.set(runs[1], 'failed', 'boom')
    lines = out.getvalue().splitlines()
    assert lines[0].startswith('[0/4 done, 0 running, 0 failed, 1 '
                               'interrupted, 3 remaining')
    assert lines[1].startswith('[0/4 done, 0 running, 1 failed, 1 '
                               'interrupted, 2 remaining')
    assert 'mini/source_only/s0: interrupted - stopped' in lines[0]


def test_corrupt_last_checkpoint_is_resumed_not_retrained(tmp_path,
                                                          fake_calls):
    """An interrupted run whose last checkpoint is broken resumes (tools/
    train.py --resume falls back to an earlier checkpoint); its work dir is
    never deleted."""
    suite = make_suite(str(tmp_path), methods=('clst', ), seeds=(0, ),
                       modes={'clst': 'kill_once'})
    (run, ) = load_suite(suite).runs
    assert main([suite]) == 1
    ckpt = osp.join(run.work_dir, 'iter_2.pth')
    open(ckpt, 'w').close()  # empty: what a kill mid-save used to leave
    sentinel = osp.join(run.work_dir, 'keep.txt')
    open(sentinel, 'w').close()
    assert main([suite]) == 0
    assert [c[2] for c in _trains(fake_calls)] == ['resume=0', 'resume=1']
    assert osp.exists(sentinel)
    assert json.load(open(run.results_dir + f'/mini/records/'
                          f'{run.run_id}.json'))['status'] == 'finished'


def test_an_earlier_attempts_marker_does_not_fail_a_resumed_run(
        tmp_path, fake_calls):
    suite = make_suite(str(tmp_path), methods=('clst', ), seeds=(0, ))
    (run, ) = load_suite(suite).runs
    assert main([suite]) == 0
    marker = osp.join(run.work_dir, 'non_finite.json')
    with open(marker, 'w') as f:
        json.dump(dict(where='loss', iter=1, key='loss', value='nan'), f)
    with open(osp.join(run.results_dir, 'mini', 'records',
                       f'{run.run_id}.json'), 'w') as f:
        f.write('{}')
    assert main([suite]) == 0  # resumed from its checkpoint, finished
    assert _records(tmp_path)[run.run_id]['status'] == 'finished'
    assert osp.exists(osp.join(run.work_dir, 'non_finite.previous.json'))
