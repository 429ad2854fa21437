"""The results store: atomic records, concurrent writers that neither
corrupt nor drop records, run locks and stale 'running' records."""
import json
import multiprocessing as mp
import os

import pytest

from clst_mmseg.benchmark.store import ResultsStore
from test_benchmark_fakes import valid_record


def _record(run_id, writer, i, status='finished'):
    return valid_record(run_id, status=status, writer=writer, i=i,
                        payload='x' * 20000, metrics=dict(mIoU=float(i)))


def test_write_read_and_strict_json(tmp_path):
    store = ResultsStore(str(tmp_path))
    rec = _record('r0', 'w', 0)
    rec['metrics']['mIoU13'] = float('nan')
    path = store.write(rec)
    assert path == str(tmp_path / 'mini' / 'records' / 'r0.json')
    back = store.read('mini', 'r0')
    assert back['metrics'] == {'mIoU': 0.0, 'mIoU13': None}
    json.loads(open(path).read())  # strict JSON (no NaN literal)
    assert store.read('mini', 'nope') is None
    assert os.listdir(tmp_path / 'mini' / 'records') == ['r0.json']
    with pytest.raises(ValueError, match="status: 'done' is not one of"):
        store.write(valid_record('r1', status='done'))
    assert not (tmp_path / 'mini' / 'records' / 'r1.json').exists()


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
    expected = sorted([f'shared-{i}.json' for i in range(5)] +
                      [f'{w}-{i}.json' for w in 'ab' for i in range(60)])
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
    store.write(_record('r0', 'w', 0, status='running'))
    assert store.effective_status(store.read('mini', 'r0')) == 'interrupted'
    lock = store.lock('mini', 'r0')
    assert lock.acquire()
    assert store.effective_status(store.read('mini', 'r0')) == 'running'
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
    store.write(valid_record('good'))
    bad = tmp_path / 'mini' / 'records' / 'r0.json'
    bad.write_text(text)
    assert store.read('mini', 'r0') is None  # its run counts as not run
    (line, ) = lines
    assert line.startswith(f'invalid record {bad} ({problem}')
    assert '; moved to ' in line and line.endswith('; its run is planned '
                                                   'again')
    assert not bad.exists()
    (moved, ) = (tmp_path / 'mini' / 'invalid_records').iterdir()
    assert moved.name.startswith('r0.') and moved.read_text() == text
    assert [r['run_id'] for r in store.records('mini')] == ['good']
    assert len(lines) == 1


def test_records_are_checked_against_their_file_and_folder(tmp_path):
    lines = []
    store = ResultsStore(str(tmp_path), warn=lines.append)
    store.write(valid_record('r0'))
    os.rename(tmp_path / 'mini' / 'records' / 'r0.json',
              tmp_path / 'mini' / 'records' / 'r1.json')
    assert store.records('mini') == []
    assert "(run_id 'r0' but the file is r1.json)" in lines[0]
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
