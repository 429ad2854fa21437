"""The results store: atomic records, concurrent writers that neither
corrupt nor drop records, run locks and stale 'running' records."""
import json
import multiprocessing as mp
import os

import pytest

from clst_mmseg.benchmark.store import ResultsStore
from test_benchmark_fakes import valid_record


def _record(method, writer, i, status='finished'):
    return valid_record(method, status=status, writer=writer, i=i,
                        payload='x' * 20000,
                        metrics=dict(mIoU=float(i)) if status == 'finished'
                        else None,
                        per_class_iou=dict(road=float(i), pole=None)
                        if status == 'finished' else None)


def test_write_read_and_strict_json(tmp_path):
    store = ResultsStore(str(tmp_path))
    rec = _record('r0', 'w', 0)
    rec['per_class_iou']['pole'] = float('nan')  # absent from the val set
    path = store.write(rec)
    run_id = rec['run_id']
    assert path == str(tmp_path / 'mini' / 'records' / f'{run_id}.json')
    back = store.read('mini', run_id)
    assert back['per_class_iou'] == {'road': 0.0, 'pole': None}
    json.loads(open(path).read())  # strict JSON (no NaN literal)
    assert store.read('mini', 'nope') is None
    assert os.listdir(tmp_path / 'mini' / 'records') == [f'{run_id}.json']
    bad = valid_record('r1', status='done')
    with pytest.raises(ValueError, match="status: 'done' is not one of"):
        store.write(bad)
    assert not (tmp_path / 'mini' / 'records' /
                f'{bad["run_id"]}.json').exists()


def _writer(root, name, n, barrier):
    store = ResultsStore(root)
    barrier.wait()
    for i in range(n):
        store.write(_record(f'shared-{i % 5}', name, i))  # both rewrite
        store.write(_record(f'{name}-{i}', name, i))  # one writer each


def _reader(root, stop, bad):
    store = ResultsStore(root)
    while not stop.is_set():
        try:
            for rec in store.records('mini'):
                if len(rec['payload']) != 20000:
                    bad.value += 1
        except ValueError:
            bad.value += 1


def test_concurrent_writers_neither_corrupt_nor_drop(tmp_path):
    root = str(tmp_path)
    ctx = mp.get_context('fork')
    barrier, stop = ctx.Barrier(2), ctx.Event()
    bad = ctx.Value('i', 0)
    reader = ctx.Process(target=_reader, args=(root, stop, bad))
    reader.start()
    writers = [ctx.Process(target=_writer, args=(root, w, 60, barrier))
               for w in ('a', 'b')]
    for p in writers:
        p.start()
    for p in writers:
        p.join(60)
    stop.set()
    reader.join(60)
    assert [p.exitcode for p in writers] == [0, 0]
    assert bad.value == 0  # the reader never saw half a record
    names = sorted(os.listdir(tmp_path / 'mini' / 'records'))
    expected = sorted(
        [f'{valid_record(f"shared-{i}")["run_id"]}.json' for i in range(5)] +
        [f'{valid_record(f"{w}-{i}")["run_id"]}.json' for w in 'ab'
         for i in range(60)])
    assert names == expected  # nothing dropped, no temp file left
    for rec in ResultsStore(root).records('mini'):
        assert rec['writer'] in ('a', 'b')


def _probe(root, got):
    got.value = int(ResultsStore(root).lock('mini', 'r0').acquire())


def test_run_lock_is_exclusive_across_processes(tmp_path):
    store = ResultsStore(str(tmp_path))
    lock = store.lock('mini', 'r0')
    assert lock.acquire()
    assert store.is_locked('mini', 'r0')
    ctx = mp.get_context('fork')
    got = ctx.Value('i', -1)
    probe = ctx.Process(target=_probe, args=(str(tmp_path), got))
    probe.start()
    probe.join(30)
    assert got.value == 0  # another process cannot take it
    assert not store.lock('mini', 'r0').acquire()  # same process, too
    lock.release()
    assert not store.is_locked('mini', 'r0')
    assert (tmp_path / 'mini' / '.locks' / '.gitignore').read_text() == '*\n'


def test_stale_running_record_counts_as_interrupted(tmp_path):
    store = ResultsStore(str(tmp_path))
    run_id = store.write(_record('r0', 'w', 0, status='running'))
    run_id = os.path.basename(run_id)[:-5]
    assert store.effective_status(store.read('mini', run_id)) == \
        'interrupted'
    lock = store.lock('mini', run_id)
    assert lock.acquire()
    assert store.effective_status(store.read('mini', run_id)) == 'running'
    lock.release()


@pytest.mark.parametrize('text, problem', [
    ('{}', "the record: missing key 'schema'"),
    ('[]', 'the record: expected object, got array []'),
    ('{"status": "finished"}', "the record: missing key 'schema'"),
    ('', 'empty file'),
    ('{"schema": 1, "run_id": "r0", "ta', 'not valid JSON'),
])
def test_invalid_record_is_reported_and_moved_aside(tmp_path, text,
                                                    problem):
    lines = []
    store = ResultsStore(str(tmp_path), warn=lines.append)
    good = valid_record('good')
    store.write(good)
    bad = tmp_path / 'mini' / 'records' / 'r0.json'
    bad.write_text(text)
    assert store.read('mini', 'r0') is None  # its run counts as not run
    (line, ) = lines
    assert line.startswith(f'invalid record {bad} ({problem}')
    assert '; moved to ' in line and line.endswith('; its run is planned '
                                                   'again')
    assert not bad.exists()
    moved, why = sorted((tmp_path / 'mini' / 'invalid_records').iterdir())
    assert moved.name.startswith('r0.') and moved.read_text() == text
    assert why.name == moved.name[:-len('.json')] + '.reason'
    assert why.read_text().startswith(problem)
    assert store.set_aside('mini', 'r0') == [
        (f'invalid_records/{moved.name}', why.read_text().strip())]
    assert [r['run_id'] for r in store.records('mini')] == [good['run_id']]
    assert len(lines) == 1


def test_records_are_checked_against_their_file_and_folder(tmp_path):
    lines = []
    store = ResultsStore(str(tmp_path), warn=lines.append)
    rec = valid_record('r0')
    store.write(rec)
    os.rename(tmp_path / 'mini' / 'records' / f'{rec["run_id"]}.json',
              tmp_path / 'mini' / 'records' / 'r1.json')
    assert store.records('mini') == []
    assert f"(run_id '{rec['run_id']}' but the file is r1.json)" in lines[0]
    with pytest.raises(ValueError, match='metrics: expected object, got '
                       'null'):
        store.write(valid_record('r3', metrics=None))


def test_read_only_look_leaves_an_invalid_record_in_place(tmp_path):
    lines = []
    (tmp_path / 'mini' / 'records').mkdir(parents=True)
    bad = tmp_path / 'mini' / 'records' / 'r0.json'
    bad.write_text('{}')
    store = ResultsStore(str(tmp_path), readonly=True, warn=lines.append)
    assert store.read('mini', 'r0') is None
    assert bad.read_text() == '{}'
    assert lines[0].endswith('left in place (read-only look): its run '
                             'counts as not run')
    assert not (tmp_path / 'mini' / '.locks').exists()


def test_invalid_record_of_a_run_executed_elsewhere_is_left_alone(tmp_path):
    lines = []
    store = ResultsStore(str(tmp_path), warn=lines.append)
    lock = store.lock('mini', 'r0')
    assert lock.acquire()
    (tmp_path / 'mini' / 'records').mkdir(parents=True)
    (tmp_path / 'mini' / 'records' / 'r0.json').write_text('{}')
    assert store.read('mini', 'r0') is None
    assert 'being executed elsewhere' in lines[0]
    assert (tmp_path / 'mini' / 'records' / 'r0.json').exists()
    # the process holding the lock moves it itself
    assert store.read('mini', 'r0', locked=True) is None
    assert not (tmp_path / 'mini' / 'records' / 'r0.json').exists()
    lock.release()


def test_records_are_readable_by_the_group(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = ResultsStore(str(tmp_path)).write(valid_record('r0'))
    # as open() would create it (mkstemp alone gives 0600)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    assert umask & 0o044 or os.stat(path).st_mode & 0o044 == 0o044


def test_is_locked_creates_nothing(tmp_path):
    store = ResultsStore(str(tmp_path))
    assert not store.is_locked('mini', 'r0')
    assert not (tmp_path / 'mini').exists()


def _synthia_record(**extra):
    """A finished record of a task with named subsets (mIoU16, mIoU13) and
    19 classes, one absent from the val set."""
    from clst_mmseg.benchmark.schema import named_class_subsets
    names = named_class_subsets()['mIoU19']
    iou = {c: float(10 + 3 * i) for i, c in enumerate(names)}
    iou['train'] = None

    def mean(subset):
        values = [iou[c] for c in named_class_subsets()[subset]
                  if iou[c] is not None]
        return round(sum(values) / len(values), 2)

    evaluator = dict(type='SubsetIoUMetric',
                     class_subsets={'__tuple__': ['mIoU16', 'mIoU13']})
    rec = valid_record(
        'clst', task='synthia2cs', seed=2, resolved_config=dict(
            val_evaluator=evaluator, test_evaluator=evaluator),
        metrics=dict(aAcc=90.0, mIoU=mean('mIoU19'), mIoU16=mean('mIoU16'),
                     mIoU13=mean('mIoU13')),
        per_class_iou=iou, cfg_options=['randomness.seed=2'],
        curve=[dict(step=2, mIoU=30.0, mIoU16=31.0)],
        trajectory=[dict(step=2, metrics=dict(mIoU=30.0), criteria=dict(
            entropy=-0.7))])
    rec.update(extra)
    return rec


def _reset(rec):
    """Recompute the run id after changing its identity fields."""
    from clst_mmseg.benchmark.identity import make_run_id
    rec['run_id'] = make_run_id(rec['task'], rec['method'],
                                rec['config_hash'], rec['seed'])
    return rec


@pytest.mark.parametrize('change, problem', [
    (lambda r: r['metrics'].update(mIoU=150.0),
     'metrics.mIoU: 150.0 is not a percentage in [0, 100]'),
    (lambda r: r['metrics'].update(mIoU=float('inf')),
     'metrics.mIoU: inf is not a percentage'),
    (lambda r: r['metrics'].update(mIoU=None),
     'metrics.mIoU = None but the mean IoU of its 19 classes is'),
    (lambda r: r['metrics'].update(aAcc=-1.0),
     'metrics.aAcc: -1.0 is not a percentage in [0, 100]'),
    (lambda r: r['metrics'].update(aAcc=None),
     'metrics.aAcc: null (only a mean of IoU'),
    (lambda r: r['per_class_iou'].update(road=100.5),
     'per_class_iou.road: 100.5 is not a percentage'),
    (lambda r: r['curve'][0].update(mIoU=-3.0),
     'curve[0].mIoU: -3.0 is not a percentage'),
    (lambda r: r['trajectory'][0]['metrics'].update(mIoU=101.0),
     'trajectory[0].metrics.mIoU: 101.0 is not a percentage'),
    (lambda r: r['metrics'].update(mIoU=r['metrics']['mIoU'] + 0.02),
     'but the mean IoU of its 19 classes is'),
    (lambda r: r['metrics'].update(mIoU13=r['metrics']['mIoU16']),
     'metrics.mIoU13 = '),
    (lambda r: r['metrics'].update(mIoU7=30.0),
     "metrics.mIoU7: no class subset of that name in its evaluator's"),
    (lambda r: r['per_class_iou'].pop('bus') and r['metrics'].pop('mIoU'),
     "metrics.mIoU16: no per-class IoU of ['bus']"),
    (lambda r: r.update(per_class_iou={}),
     'finished without per-class IoU'),
    (lambda r: r.update(run_id=r['run_id'].replace('-s2', '-s1')),
     'does not match its task, method, config hash and seed'),
    (lambda r: _reset(r.update(method='source_only') or r),
     None),  # a consistent record of another method is valid
    (lambda r: r.update(config_hash='0' * 64),
     'config_hash 0000000000... is not the hash of its resolved_config'),
    (lambda r: r['resolved_config'].update(lr=0.1),
     'is not the hash of its resolved_config'),
    (lambda r: _reset(r.update(seed=1) or r),
     'seed 1 but its cfg_options set randomness.seed=2'),
])
def test_records_are_checked_by_meaning(tmp_path, change, problem):
    """A record that matches the schema but cannot be what it says is set
    aside like a malformed one (its run is planned again); the values a
    record may legitimately hold (a class absent from the val set, rounded
    means) pass."""
    lines = []
    store = ResultsStore(str(tmp_path), warn=lines.append)
    rec = _synthia_record()
    store.write(rec)
    assert store.read('synthia2cs', rec['run_id']) == rec
    path = tmp_path / 'synthia2cs' / 'records' / f'{rec["run_id"]}.json'
    change(rec)
    text = json.dumps(rec)  # as an editor would leave it
    path.unlink()
    path = path.parent / f'{rec["run_id"]}.json'
    path.write_text(text)
    if problem is None:
        assert store.read('synthia2cs', rec['run_id']) is not None
        assert lines == []
        return
    assert store.read('synthia2cs', rec['run_id']) is None
    (line, ) = lines
    assert problem in line and line.endswith('its run is planned again')
    assert not path.exists()
    ((kept, why), ) = store.set_aside('synthia2cs', rec['run_id'])
    assert problem in why
    assert (tmp_path / 'synthia2cs' / kept).read_text() == text
    with pytest.raises(ValueError, match='does not match the record '
                       'schema'):
        store.write(rec)  # nor is such a record ever written


def test_committed_records_are_valid():
    """Every record under results/ passes the checks (form and meaning)."""
    import glob
    from clst_mmseg.benchmark.schema import record_problem
    from conftest import ROOT
    files = glob.glob(os.path.join(ROOT, 'results', '**', 'records',
                                   '*.json'), recursive=True)
    problems = {}
    for path in files:
        with open(path) as f:
            rec = json.load(f)
        task = os.path.basename(os.path.dirname(os.path.dirname(path)))
        problems[path] = record_problem(rec, task,
                                        os.path.basename(path)[:-5])
    assert {p: v for p, v in problems.items() if v} == {}
