"""Check the domain gap of a built-in task (mini, adverse, aerial) in plain
PyTorch.

Trains the small DeepLab-like model meant for the mini configs (mmseg's
ResNet-18 with 8 base/stem channels, output stride 4 by dilation, and a
DeepLabV2-style head of four dilated 3x3 convs summed) on

- ``source``: source labels only;
- ``oracle``: target train labels only;
- ``selftrain``: source labels, then after a source warm-up also target
  pseudo-labels from the current net (confidence >= threshold) on a
  colour-jittered copy of the target batch;

for several training seeds each, and prints target-val mIoU mean ± std.
Every method runs the same number of iterations (equal compute); the data set
is the same for all training seeds (the task's cached data set, data seed 0).

Usage::

    python tools/mini_gap_check.py [--task mini|adverse|aerial] [--seeds 0 1 2]
        [--iters 1500] [--methods source oracle selftrain] [--root DIR]
"""
import argparse
import csv
import glob
import os.path as osp
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import clst_mmseg  # noqa: E402,F401  (compat layer before mmseg.models)
from clst_mmseg.datasets import adverse, aerial, mini  # noqa: E402
from mmseg.models.backbones import ResNet  # noqa: E402

# Built-in task -> (classes, cached ensure(root), generate(root)).
TASKS = dict(
    mini=(mini.MINI_CLASSES, mini.ensure_mini, mini.generate_mini),
    adverse=(adverse.ADVERSE_CLASSES, adverse.ensure_adverse,
             adverse.generate_adverse),
    aerial=(aerial.AERIAL_CLASSES, aerial.ensure_aerial,
            aerial.generate_aerial))

# Output stride -> backbone strides/dilations and head dilations.
ARCH = {
    4: dict(strides=(1, 1, 1, 1), dilations=(1, 2, 4, 8),
            head_dilations=(1, 3, 6, 9)),
    8: dict(strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
            head_dilations=(1, 2, 3, 4)),
}
MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)


class ASPPV2Head(nn.Module):
    """DeepLabV2 classifier: dilated 3x3 convs to class logits, summed."""

    def __init__(self, in_channels, num_classes, dilations=(1, 2, 3, 4)):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(in_channels, num_classes, 3, padding=d, dilation=d)
            for d in dilations)
        for conv in self.convs:
            nn.init.normal_(conv.weight, 0, 0.01)
            nn.init.zeros_(conv.bias)

    def forward(self, x):
        return sum(conv(x) for conv in self.convs)


class MiniDeepLab(nn.Module):
    """ResNet-18 (thin) + DeepLabV2 ASPP; logits upsampled to input size."""

    def __init__(self, num_classes, base_channels=16,
                 strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
                 head_dilations=(1, 2, 3, 4)):
        super().__init__()
        self.backbone = ResNet(
            depth=18, in_channels=3, stem_channels=base_channels,
            base_channels=base_channels, num_stages=4, strides=strides,
            dilations=dilations, out_indices=(3, ), contract_dilation=True,
            norm_cfg=dict(type='BN', requires_grad=True))
        self.head = ASPPV2Head(base_channels * 8, num_classes, head_dilations)

    def forward(self, x):
        out = self.head(self.backbone(x)[-1])
        return F.interpolate(out, size=x.shape[2:], mode='bilinear',
                             align_corners=False)


def load_split(img_glob, label_of):
    paths = sorted(glob.glob(img_glob))
    if not paths:
        raise FileNotFoundError(f'mini_gap_check: no images match {img_glob}')
    imgs = np.stack([cv2.imread(p)[:, :, ::-1] for p in paths])
    lbls = np.stack([cv2.imread(label_of(p), cv2.IMREAD_UNCHANGED)
                     for p in paths])
    return (torch.from_numpy(imgs.copy()).permute(0, 3, 1, 2).float(),
            torch.from_numpy(lbls).long())


def load_task(root):
    src = load_split(
        osp.join(root, 'source/images/*.png'),
        lambda p: p.replace('/images/', '/labels/').replace(
            '.png', '_labelTrainIds.png'))
    tgt = {}
    for split in ('train', 'val'):
        tgt[split] = load_split(
            osp.join(root, f'target/leftImg8bit/{split}/*/*_leftImg8bit.png'),
            lambda p: p.replace('/leftImg8bit/', '/gtFine/').replace(
                '_leftImg8bit.png', '_gtFine_labelTrainIds.png'))
    return src, tgt['train'], tgt['val']


def val_groups(root):
    """Target-val image indices per condition (adverse: the weather; aerial:
    the layout band) and per severity third, from the task's
    ``target/conditions_val.csv``; {} without it."""
    path = osp.join(root, 'target', 'conditions_val.csv')
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r['image'])
    groups = {}
    for i, r in enumerate(rows):
        third = min(int(float(r['severity']) * 3), 2)
        for key in (r['condition'], ('mild', 'medium', 'hard')[third]):
            groups.setdefault(key, []).append(i)
    return {k: torch.tensor(v) for k, v in groups.items()}


def normalize(x):
    return (x - MEAN) / STD


def flip(x, y=None, gen=None):
    m = torch.rand(x.shape[0], generator=gen) < 0.5
    x = x.clone()
    x[m] = x[m].flip(-1)
    if y is None:
        return x
    y = y.clone()
    y[m] = y[m].flip(-1)
    return x, y


def colour_jitter(x, gen, strength=0.4):
    """Per-image brightness, contrast, saturation and channel gains."""
    n = x.shape[0]

    def u(*shape):
        return 1 + strength * (2 * torch.rand(*shape, generator=gen) - 1)

    grey = x.mean(1, keepdim=True)
    x = grey + (x - grey) * u(n, 1, 1, 1)  # saturation
    mean = x.mean((1, 2, 3), keepdim=True)
    x = mean + (x - mean) * u(n, 1, 1, 1)  # contrast
    x = x * u(n, 1, 1, 1) * (1 + 0.5 * (u(n, 3, 1, 1) - 1))  # gain, cast
    x = x + 10 * strength * torch.randn(x.shape, generator=gen)  # noise
    return x.clamp(0, 255)


@torch.no_grad()
def evaluate(model, imgs, lbls, num_classes, batch=100):
    model.eval()
    conf = torch.zeros(num_classes, num_classes, dtype=torch.long)
    for i in range(0, len(imgs), batch):
        pred = model(normalize(imgs[i:i + batch])).argmax(1)
        gt = lbls[i:i + batch]
        valid = gt != 255
        conf += torch.bincount(
            gt[valid] * num_classes + pred[valid],
            minlength=num_classes**2).view(num_classes, num_classes)
    inter = conf.diag().double()
    union = conf.sum(0) + conf.sum(1) - conf.diag()
    iou = inter / union.double()
    return 100 * torch.nanmean(iou).item(), (100 * iou).tolist()


def train(method, seed, data, args):
    (src_x, src_y), (tt_x, tt_y), (tv_x, tv_y) = data
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    k = len(TASKS[args.task][0])
    model = MiniDeepLab(k, args.base_channels, **ARCH[args.output_stride])
    if args.optim == 'sgd':
        opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9,
                              weight_decay=5e-4)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr,
                                weight_decay=1e-2)
    base_lrs = [g['lr'] for g in opt.param_groups]
    lab_x, lab_y = (tt_x, tt_y) if method == 'oracle' else (src_x, src_y)
    n_pl, n_tgt = 0, 0
    t0, c0 = time.time(), time.process_time()
    for it in range(args.iters):
        for g, lr in zip(opt.param_groups, base_lrs):
            g['lr'] = lr * (1 - it / args.iters)**0.9
        model.train()
        idx = torch.randint(len(lab_x), (args.batch, ), generator=gen)
        x, y = flip(lab_x[idx], lab_y[idx], gen)
        loss = F.cross_entropy(model(normalize(x)), y, ignore_index=255)
        opt.zero_grad()
        loss.backward()
        if method == 'selftrain' and it >= args.warmup:
            tidx = torch.randint(len(tt_x), (args.batch, ), generator=gen)
            tx = flip(tt_x[tidx], gen=gen)
            model.eval()
            with torch.no_grad():
                prob = model(normalize(tx)).softmax(1)
            model.train()
            conf, pl = prob.max(1)
            pl[conf < args.threshold] = 255
            n_pl += (pl != 255).sum().item()
            n_tgt += pl.numel()
            tx_in = colour_jitter(tx, gen) if args.jitter else tx
            tloss = F.cross_entropy(model(normalize(tx_in)), pl,
                                    ignore_index=255)
            tloss.backward()
        opt.step()
    secs, cpu = time.time() - t0, time.process_time() - c0
    miou, ious = evaluate(model, tv_x, tv_y, k)
    by_group = ', '.join(
        f'{name} {evaluate(model, tv_x[idx], tv_y[idx], k)[0]:.1f}'
        for name, idx in args.groups.items())
    extra = f' pl-ratio {n_pl / max(n_tgt, 1):.2f}' if n_tgt else ''
    print(f'{method:9s} seed {seed}: mIoU {miou:5.1f}  '
          f'IoU {" ".join(f"{v:4.1f}" for v in ious)}  '
          f'{secs:5.1f}s (cpu {cpu:5.1f}s){extra}', flush=True)
    if by_group:
        print(f'{"":9s} target-val mIoU by condition / severity: {by_group}',
              flush=True)
    return miou, secs, model


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--task', default='mini', choices=sorted(TASKS))
    p.add_argument('--root', default=None,
                   help="the task's data folder (default: its cache)")
    p.add_argument('--regenerate', action='store_true',
                   help='regenerate into --root (for tuning the generator)')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--methods', nargs='+',
                   default=['source', 'oracle', 'selftrain'],
                   choices=['source', 'oracle', 'selftrain'])
    p.add_argument('--iters', type=int, default=1500)
    p.add_argument('--warmup', type=int, default=500,
                   help='source-only iterations before self-training')
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--optim', default='adamw', choices=['sgd', 'adamw'])
    p.add_argument('--lr', type=float, default=1e-3,
                   help='1e-3 for adamw; 0.01 is the usual sgd value')
    p.add_argument('--base-channels', type=int, default=8)
    p.add_argument('--output-stride', type=int, default=4, choices=[4, 8])
    p.add_argument('--threshold', type=float, default=0.9)
    p.add_argument('--no-jitter', dest='jitter', action='store_false',
                   help='no colour augmentation of the target input')
    p.add_argument('--threads', type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    classes, ensure, generate = TASKS[args.task]
    if args.regenerate:
        if not args.root:
            p.error('--regenerate needs --root')
        root = generate(args.root)
    elif args.root and osp.isdir(osp.join(args.root, 'source')):
        root = args.root  # an existing data folder, used as it is
    else:
        root = ensure(args.root)
    data = load_task(root)
    args.groups = val_groups(root)
    print(f'data: {root}  source {len(data[0][0])}, target train '
          f'{len(data[1][0])}, target val {len(data[2][0])}; classes '
          f'{", ".join(classes)}')
    print(f'model: ResNet-18 base {args.base_channels} '
          f'OS{args.output_stride} + ASPPv2; '
          f'{args.optim} lr {args.lr} poly, batch {args.batch}, '
          f'{args.iters} iters')
    results = {}
    for method in args.methods:
        for seed in args.seeds:
            results.setdefault(method, []).append(
                train(method, seed, data, args))
    print('target-val mIoU (mean ± std over seeds), seconds per run:')
    for method, rs in results.items():
        m = np.array([r[0] for r in rs])
        s = np.array([r[1] for r in rs])
        print(f'  {method:9s} {m.mean():5.1f} ± {m.std():4.1f}   '
              f'{s.mean():5.1f} s')


if __name__ == '__main__':
    main()
