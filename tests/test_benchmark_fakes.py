"""Fake tools/train.py and tools/test.py for the benchmark tests: they
write what mmengine would (scalars.json, checkpoints, last_checkpoint, a
metrics JSON per validation / of the test) in milliseconds, and can crash,
produce a NaN loss (logged, or unlogged and stopped by the non-finite check
as the real hook does), SIGKILL themselves once, sleep, leave the
validation metrics out (mode ``no_val_metrics``: the runner must run the
test tool), or (test) refuse non-finite weights. Each invocation appends a
line to $FAKE_CALLS. The fake training writes the fingerprint of the code it
imported as tools/train.py does (``clst_mmseg.code_fingerprint``; its
config's ``custom_imports`` are imported from beside the config).

A fake config is plain Python: ``fake = dict(mode=..., base=...)``,
``train_cfg = dict(max_iters=...)``, ``randomness = dict(seed=0)``,
optionally ``custom_imports = dict(imports=[...])``.
"""
import os
import os.path as osp
import textwrap

#: The metrics both fakes report for a base value m: mIoU is the mean of
#: the per-class IoU (pole absent from the val set), mIoU16 the mean over
#: the fake configs' subset (road, pole, car, sky).
FAKE_METRICS = r'''
def metrics(m):
    return {'aAcc': 90.0, 'mIoU': m, 'mIoU16': m - 1, 'IoU.road': m + 10,
            'IoU.pole': None, 'IoU.car': m - 10, 'IoU.sky': m - 3,
            'IoU.bus': m + 3}
'''

FAKE_TRAIN = FAKE_METRICS + r'''
import argparse, json, os, os.path as osp, signal, sys, time
p = argparse.ArgumentParser()
p.add_argument('config')
p.add_argument('--work-dir', required=True)
p.add_argument('--resume', action='store_true')
p.add_argument('--launcher', default='none')
p.add_argument('--val-metrics-dir')
p.add_argument('--cfg-options', nargs='+', default=[])
a = p.parse_args()
opts = dict(o.split('=', 1) for o in a.cfg_options)
ns = {}
exec(open(a.config).read(), ns)
fake = ns.get('fake', {})
mode = opts.get('fake.mode', fake.get('mode', 'ok'))
seed = int(opts['randomness.seed'])
iters = int(opts.get('train_cfg.max_iters', ns['train_cfg']['max_iters']))
wd = a.work_dir
name = osp.basename(wd)
if os.environ.get('FAKE_CALLS'):
    with open(os.environ['FAKE_CALLS'], 'a') as f:
        f.write(f"{name} train resume={int(a.resume)} "
                f"gpus={os.environ.get('CUDA_VISIBLE_DEVICES')} "
                f"pid={os.getpid()} ppid={os.getppid()} "
                f"threads={os.environ.get('OMP_NUM_THREADS')}\n")
print('CUDA available: False', flush=True)
os.makedirs(wd, exist_ok=True)
custom = ns.get('custom_imports')
if custom:
    import importlib
    sys.path.insert(0, osp.dirname(osp.abspath(a.config)))
    for module in custom['imports']:
        importlib.import_module(module)
from clst_mmseg.code_fingerprint import collect, write_fingerprint
write_fingerprint(wd, collect(custom))
start = 1
pointer = osp.join(wd, 'last_checkpoint')
if a.resume and osp.exists(pointer):
    start = int(open(pointer).read().strip().split('iter_')[1][:-4]) + 1
vis = osp.join(wd, f'{time.time_ns()}', 'vis_data')
os.makedirs(vis)
sleep = float(os.environ.get('FAKE_SLEEP', fake.get('sleep', 0)))
base = float(fake.get('base', 40.0))
with open(osp.join(vis, 'scalars.json'), 'a') as log:
    for it in range(start, iters + 1):
        loss = float('nan') if mode == 'nan' and it >= 2 else 1.0 / it
        log.write(json.dumps(dict(loss=loss, iter=it, step=it)) + '\n')
        if it % 2 == 0:
            log.write(json.dumps({'mIoU': base + seed + it,
                                  'step': it}) + '\n')
            if a.val_metrics_dir and mode != 'no_val_metrics':
                os.makedirs(a.val_metrics_dir, exist_ok=True)
                m = base + seed
                json.dump(metrics(base + seed),
                          open(osp.join(a.val_metrics_dir,
                                        f'iter_{it}.json'), 'w'))
            ckpt = osp.join(wd, f'iter_{it}.pth')
            open(ckpt, 'w').write('fake')
            open(pointer, 'w').write(ckpt)
            if '+default_hooks.checkpoint.save_best' in opts and it == 2:
                open(osp.join(wd, f'best_mIoU_iter_{it}.pth'), 'w').close()
        log.flush()
        if mode == 'crash' and it == 2:
            raise RuntimeError('boom in fake training')
        if mode == 'quiet_nan' and it == 3:  # as NonFiniteCheckHook does
            where = fake.get('where', 'loss')
            json.dump(dict(where=where, iter=it, key='decode.loss_ce',
                           value='nan' if where == 'loss' else None),
                      open(osp.join(wd, 'non_finite.json'), 'w'))
            sys.exit(f'error: non-finite {where} at iteration {it}')
        if mode == 'kill_once' and it == 2 and \
                not osp.exists(osp.join(wd, 'killed_once')):
            open(osp.join(wd, 'killed_once'), 'w').close()
            os.kill(os.getpid(), signal.SIGKILL)
        if sleep:
            time.sleep(sleep)
'''

FAKE_TEST = FAKE_METRICS + r'''
import argparse, json, os, os.path as osp, sys
p = argparse.ArgumentParser()
p.add_argument('config')
p.add_argument('checkpoint')
p.add_argument('--work-dir')
p.add_argument('--metrics-json', required=True)
p.add_argument('--no-verify', action='store_true')
p.add_argument('--cfg-options', nargs='+', default=[])
a = p.parse_args()
opts = dict(o.split('=', 1) for o in a.cfg_options)
ns = {}
exec(open(a.config).read(), ns)
fake = ns.get('fake', {})
assert osp.isfile(a.checkpoint), a.checkpoint
if fake.get('test') == 'nonfinite':
    sys.exit(f'error: non-finite weights in {a.checkpoint}: '
             'decode_head.conv_seg.weight holds NaN or inf')
seed = int(opts['randomness.seed'])
m = float(fake.get('base', 40.0)) + seed
if os.environ.get('FAKE_CALLS'):
    with open(os.environ['FAKE_CALLS'], 'a') as f:
        f.write(f"{osp.basename(osp.dirname(a.checkpoint))} test "
                f"{osp.basename(a.checkpoint)}\n")
json.dump(metrics(m), open(a.metrics_json, 'w'))
'''


def make_tools(root):
    """Write the fake tools under ``root``; returns (train, test) paths."""
    os.makedirs(root, exist_ok=True)
    train, test = osp.join(root, 'fake_train.py'), osp.join(root,
                                                           'fake_test.py')
    with open(train, 'w') as f:
        f.write(FAKE_TRAIN)
    with open(test, 'w') as f:
        f.write(FAKE_TEST)
    return train, test


def make_config(root, method, task, mode='ok', base=40.0, iters=4,
                **fake):
    """``<root>/configs/<method>/<task>.py``; returns its path."""
    path = osp.join(root, 'configs', method, f'{task}.py')
    os.makedirs(osp.dirname(path), exist_ok=True)
    fake = dict(mode=mode, base=base, **fake)
    with open(path, 'w') as f:
        f.write(f"fake = {fake!r}\n"
                f"train_cfg = dict(max_iters={iters})\n"
                "randomness = dict(seed=0)\n"
                "val_evaluator = dict(type='SubsetIoUMetric', class_subsets="
                "dict(mIoU16=['road', 'pole', 'car', 'sky']))\n"
                "test_evaluator = val_evaluator\n")
    return path


def make_suite(root, methods=('source_only', 'clst'), tasks=('mini', ),
               seeds=(0, 1), extra='', modes=None, name='suite.py'):
    """A suite over fake configs and fake tools, everything under root.

    Args:
        modes (dict): method -> fake mode (default 'ok').

    Returns:
        str: The suite file.
    """
    train, test = make_tools(osp.join(root, 'tools'))
    modes = modes or {}
    for m in methods:
        for t in tasks:
            if not osp.exists(osp.join(root, 'configs', m, f'{t}.py')):
                make_config(root, m, t, modes.get(m, 'ok'),
                            base=40.0 + 10 * list(methods).index(m))
    path = osp.join(root, name)
    with open(path, 'w') as f:
        f.write(textwrap.dedent(f'''\
            tasks = {list(tasks)!r}
            methods = {list(methods)!r}
            seeds = {list(seeds)!r}
            device = 'cpu'
            configs_root = {osp.join(root, 'configs')!r}
            results_dir = {osp.join(root, 'results')!r}
            work_dir = {osp.join(root, 'work')!r}
            train_script = {train!r}
            test_script = {test!r}
            method_titles = dict(source_only='Source only', clst='CLST')
            ''') + extra)
    return path


def calls(path):
    """Lines of the $FAKE_CALLS file (empty if none)."""
    if not osp.exists(path):
        return []
    with open(path) as f:
        return [ln.split() for ln in f.read().splitlines()]


def valid_record(method='clst', task='mini', status='finished', seed=0,
                 resolved_config=None, **extra):
    """The smallest record that matches ``record_schema.json`` and its
    meaning: its run id (``record['run_id']``) is made of its task, method,
    seed and the hash of ``resolved_config`` (default ``{}``); its code
    fingerprint is empty (never stale; ``code=None``: no fingerprint)."""
    from clst_mmseg.benchmark.identity import config_hash, make_run_id
    from clst_mmseg.code_fingerprint import combined_sha256
    resolved = {} if resolved_config is None else resolved_config
    cfg_hash = config_hash(resolved)
    finished = status == 'finished'
    rec = dict(schema=1, run_id=make_run_id(task, method, cfg_hash, seed),
               task=task, method=method, seed=seed, status=status,
               reason=None, config_hash=cfg_hash, resolved_config=resolved,
               started_at='2026-01-01T00:00:00+00:00', resumed=False,
               metrics=dict(mIoU=40.0) if finished else None,
               per_class_iou=dict(road=50.0, car=30.0) if finished else None,
               attempts=[],
               checkpoint=dict(path='w/iter_4.pth', iteration=4)
               if finished else None,
               # trained by code that imported no project file: never stale
               code=dict(sha256=combined_sha256({}), files={}))
    rec.update(extra)
    return rec


def with_mean(miou, per_class):
    """``per_class`` plus as few ``rest<i>`` classes of one IoU as make
    ``miou`` the mean of them all (records are checked for that), for tests
    whose records give a few classes and an mIoU of their own."""
    present = [v for v in per_class.values()
               if v is not None and v == v]  # NaN: absent from the val set
    for k in range(1, 20):
        fill = ((len(present) + k) * miou - sum(present)) / k
        if 0 <= fill <= 100:
            return dict(per_class, **{f'rest{i}': fill for i in range(k)})
    raise ValueError(f'no filler makes {miou} the mean of {per_class}')


def make_read_only(monkeypatch, root, error=None):
    """Make every write under ``root`` fail as on a read-only file system
    (works as root too, where chmod does not stop writes): creating or
    opening files for writing, making folders, renaming and deleting.

    Args:
        error (int): ``errno`` to raise (default ``EROFS``; ``ENOSPC`` for
            a full disk).
    """
    import builtins
    import errno
    root = osp.abspath(str(root))
    code = error or errno.EROFS

    def inside(path):
        try:
            return osp.abspath(os.fsdecode(path)).startswith(root)
        except TypeError:
            return False

    def refuse(path):
        raise OSError(code, os.strerror(code), os.fsdecode(path))

    real_open, real_os_open = builtins.open, os.open
    real_mkdir, real_replace = os.mkdir, os.replace
    real_rename, real_unlink = os.rename, os.unlink

    def open_(file, mode='r', *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and inside(file) \
                and any(m in mode for m in 'wax+'):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    def os_open(path, flags, *args, **kwargs):
        if inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(path)
        return real_os_open(path, flags, *args, **kwargs)

    def mkdir(path, *args, **kwargs):
        if inside(path):
            if osp.isdir(path):
                raise FileExistsError(errno.EEXIST, 'File exists', path)
            refuse(path)
        return real_mkdir(path, *args, **kwargs)

    def guard(real):
        def wrapped(src, *args, **kwargs):
            if inside(src):
                refuse(src)
            return real(src, *args, **kwargs)
        return wrapped

    monkeypatch.setattr(builtins, 'open', open_)
    monkeypatch.setattr(os, 'open', os_open)
    monkeypatch.setattr(os, 'mkdir', mkdir)
    monkeypatch.setattr(os, 'replace', guard(real_replace))
    monkeypatch.setattr(os, 'rename', guard(real_rename))
    monkeypatch.setattr(os, 'unlink', guard(real_unlink))
