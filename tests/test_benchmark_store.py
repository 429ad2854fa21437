"""The results store: atomic records, concurrent writers that neither
corrupt nor drop records, run locks and stale 'running' records."""
import json
import multiprocessing as mp
import os

import pytest

from clst_mmseg.benchmark.store import ResultsStore


def _record(run_id, writer, i, status='finished'):
    return dict(task='mini', run_id=run_id, status=status, writer=writer,
                i=i, payload='x' * 20000, metrics=dict(mIoU=float(i)))


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
    with pytest.raises(ValueError, match="status 'done' not in"):
        store.write(dict(task='mini', run_id='r1', status='done'))
    (tmp_path / 'mini' / 'records' / 'bad.json').write_text('{')
    with pytest.raises(ValueError, match='corrupt record .*bad.json'):
        store.records('mini')


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
