"""Segment images with a trained checkpoint: a coloured mask (a palette PNG
whose pixel values are the class indices) and an overlay on the image per
input, through mmseg's ``init_model`` / ``inference_model`` and
``SegLocalVisualizer``.

Example::

    python tools/infer.py configs/clst/mini.py \
        work_dirs/clst/mini/iter_500.pth \
        ~/.cache/clst_mmseg/mini-v2-seed0/target/leftImg8bit/val --out out/

writes ``out/masks/<image>.png`` and ``out/overlays/<image>.png`` (a folder is
searched recursively; its sub-folders are kept).
"""
import argparse
import os
import os.path as osp
import sys
from typing import List

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')


def parse_args():
    parser = argparse.ArgumentParser(
        description='Segment images: coloured masks and overlays')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('input', help='an image or a folder of images')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument(
        '--device', default=None,
        help="e.g. 'cpu' or 'cuda:0' (default: cuda:0 if available)")
    parser.add_argument(
        '--opacity', type=float, default=0.5,
        help='opacity of the mask in the overlays (0, 1]')
    parser.add_argument(
        '--cfg-options', nargs='+', default=None, metavar='KEY=VALUE',
        help='override config settings, as in tools/train.py')
    return parser.parse_args()


def find_images(path: str) -> List[str]:
    """The image itself, or the images below a folder (sorted)."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f'no such image or folder: {path}')
    found = sorted(
        osp.join(root, name) for root, _, names in os.walk(path)
        for name in names if name.lower().endswith(IMAGE_EXTENSIONS))
    if not found:
        raise FileNotFoundError(
            f'no image ({", ".join(IMAGE_EXTENSIONS)}) below {path}')
    return found


def main():
    args = parse_args()
    if not 0 < args.opacity <= 1:
        sys.exit(f'error: --opacity must be in (0, 1], got {args.opacity}')
    import clst_mmseg
    clst_mmseg.register_all_modules()
    from clst_mmseg.apis import (CheckpointMismatch, load_config,
                                 prepare_run, set_tool_threads)
    from clst_mmseg.compat import CheckpointError
    from clst_mmseg.apis.inference import load_segmentor, save_prediction
    set_tool_threads()
    cfg_options = None
    if args.cfg_options:
        from clst_mmseg.benchmark.overrides import parse_cli
        cfg_options = parse_cli(args.cfg_options)
    try:
        images = find_images(args.input)
        if not osp.isfile(args.checkpoint):
            raise FileNotFoundError(
                f'checkpoint file not found: {args.checkpoint}')
        cfg = load_config(args.config, cfg_options)
        prepare_run(cfg, verify=False)
        model = load_segmentor(cfg, args.checkpoint, args.device)
    except (FileNotFoundError, ValueError, KeyError, CheckpointError,
            CheckpointMismatch) as e:
        sys.exit(f'error: {e}')

    from mmengine.utils import track_iter_progress
    from mmseg.apis import inference_model
    from mmseg.visualization import SegLocalVisualizer
    visualizer = SegLocalVisualizer(alpha=args.opacity)
    visualizer.dataset_meta = model.dataset_meta
    root = args.input if osp.isdir(args.input) else osp.dirname(args.input)
    for image in track_iter_progress(images):
        name = osp.splitext(osp.relpath(image, root))[0] + '.png'
        save_prediction(visualizer, image, inference_model(model, image),
                        osp.join(args.out, 'masks', name),
                        osp.join(args.out, 'overlays', name))
    print(f'{len(images)} image(s): masks in '
          f'{osp.join(args.out, "masks")}, overlays in '
          f'{osp.join(args.out, "overlays")}')


if __name__ == '__main__':
    main()
