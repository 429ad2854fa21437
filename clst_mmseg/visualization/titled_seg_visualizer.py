"""mmseg's segmentation visualizer, readable on small images: upscaled,
each panel titled, and a legend instead of class names drawn into small
masks."""
import math
from typing import List, Optional, Sequence, Tuple

import cv2
import mmcv
import numpy as np
import torch
from mmengine.dist import master_only
from mmengine.structures import PixelData
from mmseg.registry import VISUALIZERS
from mmseg.structures import SegDataSample
from mmseg.visualization import SegLocalVisualizer

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_SCALE = 0.5
_STRIP = 22  # height (pixels) of a title strip and of a legend row
_SWATCH = 12


def _text_width(text: str) -> int:
    return cv2.getTextSize(text, _FONT, _FONT_SCALE, 1)[0][0]


def _upscaled(seg: PixelData, factor: int) -> PixelData:
    """A label map repeated ``factor`` times along both axes (nearest)."""
    data = seg.data
    if factor > 1:
        data = data.repeat_interleave(factor, -1).repeat_interleave(
            factor, -2)
    return PixelData(data=data)


@VISUALIZERS.register_module()
class TitledSegVisualizer(SegLocalVisualizer):
    """:class:`mmseg.visualization.SegLocalVisualizer` for images of any
    size (``tools/test.py --show-dir`` draws through it;
    ``configs/_base_/default_runtime.py`` names it).

    mmseg writes each class's name into the mask in a box whose size
    follows the image, which on the CPU tasks' 64x64 images covers much of
    it, and puts ground truth and prediction side by side without saying
    which is which. Here:

    - an image whose shorter side is below ``min_size`` is upscaled by an
      integer factor (label maps by repetition, so no class is blended)
      before drawing;
    - class names are written into the masks only for images whose
      shorter side is at least ``label_min_size``; below it, a legend
      under the panels names the colour of every class present;
    - a title strip above each panel says what it shows (``'ground
      truth'`` left and ``'prediction'`` right, mmseg's order).

    Args:
        name (str): The instance name (mmengine's visualizers are named
            singletons). Defaults to 'visualizer'.
        min_size (int): Shorter side (pixels) below which an image is
            upscaled. 0 never upscales. Defaults to 256.
        label_min_size (int): Shorter side of the input image from which
            mmseg's class-name labels are drawn. Defaults to 256.
        **kwargs: :class:`SegLocalVisualizer`'s arguments.
    """

    def __init__(self, name: str = 'visualizer', min_size: int = 256,
                 label_min_size: int = 256, **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        if min_size < 0 or label_min_size < 0:
            raise ValueError('TitledSegVisualizer: min_size and '
                             'label_min_size must be >= 0')
        self.min_size = int(min_size)
        self.label_min_size = int(label_min_size)

    def _factor(self, image: np.ndarray) -> int:
        side = min(image.shape[:2])
        return max(1, math.ceil(self.min_size / side)) if side else 1

    @staticmethod
    def _titled(panel: np.ndarray, title: str) -> np.ndarray:
        strip = np.full((_STRIP, panel.shape[1], 3), 255, np.uint8)
        x = max(2, (panel.shape[1] - _text_width(title)) // 2)
        cv2.putText(strip, title, (x, _STRIP - 7), _FONT, _FONT_SCALE,
                    (0, 0, 0), 1, cv2.LINE_AA)
        return np.concatenate([strip, panel], axis=0)

    @staticmethod
    def _legend(ids: Sequence[int], classes: Sequence[str],
                palette: Sequence[Sequence[int]], width: int) -> np.ndarray:
        """Rows of colour swatch + class name, wrapped to ``width``."""
        rows: List[List[Tuple[int, int]]] = [[]]
        x = 4
        for i in ids:
            item = _SWATCH + 6 + _text_width(classes[i]) + 12
            if rows[-1] and x + item > width:
                rows.append([])
                x = 4
            rows[-1].append((i, x))
            x += item
        legend = np.full((_STRIP * len(rows), width, 3), 255, np.uint8)
        for r, row in enumerate(rows):
            top = r * _STRIP + (_STRIP - _SWATCH) // 2
            for i, x in row:
                colour = tuple(int(c) for c in palette[i])
                cv2.rectangle(legend, (x, top), (x + _SWATCH, top + _SWATCH),
                              colour, -1)
                cv2.rectangle(legend, (x, top), (x + _SWATCH, top + _SWATCH),
                              (0, 0, 0), 1)
                cv2.putText(legend, classes[i], (x + _SWATCH + 6,
                                                 top + _SWATCH - 1), _FONT,
                            _FONT_SCALE, (0, 0, 0), 1, cv2.LINE_AA)
        return legend

    def draw_sample(self, image: np.ndarray,
                    data_sample: Optional[SegDataSample],
                    draw_gt: bool = True, draw_pred: bool = True,
                    with_labels: bool = True) -> np.ndarray:
        """The picture :meth:`add_datasample` stores: titled panels
        (ground truth, prediction) and, without class names in the masks,
        a legend.

        Args:
            image (np.ndarray): The RGB image the sample was predicted on.
            data_sample (SegDataSample, optional): With ``gt_sem_seg`` and
                / or ``pred_sem_seg``.
            draw_gt (bool): Draw the ground truth. Defaults to True.
            draw_pred (bool): Draw the prediction. Defaults to True.
            with_labels (bool): mmseg's class names in the masks, for an
                image of at least ``label_min_size``. Defaults to True.

        Returns:
            np.ndarray: The RGB picture.
        """
        classes = self.dataset_meta.get('classes')
        palette = self.dataset_meta.get('palette')
        labels = with_labels and min(image.shape[:2]) >= self.label_min_size
        factor = self._factor(image)
        big = np.ascontiguousarray(
            image.repeat(factor, 0).repeat(factor, 1))
        panels, present = [], set()
        for key, title, wanted in (('gt_sem_seg', 'ground truth', draw_gt),
                                   ('pred_sem_seg', 'prediction',
                                    draw_pred)):
            if not wanted or data_sample is None or key not in data_sample:
                continue
            seg = _upscaled(data_sample.get(key), factor)
            values = torch.as_tensor(seg.data).unique().tolist()
            present.update(v for v in values if 0 <= v < len(classes))
            drawn = self._draw_sem_seg(big, seg, classes, palette, labels)
            panels.append(self._titled(drawn, title))
        if not panels:
            return big
        picture = np.concatenate(panels, axis=1)
        if not labels and present:
            picture = np.concatenate([
                picture,
                self._legend(sorted(present), classes, palette,
                             picture.shape[1])
            ], axis=0)
        return picture

    @master_only
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: Optional[SegDataSample] = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0,
                       with_labels: Optional[bool] = True) -> None:
        """As :meth:`SegLocalVisualizer.add_datasample` (same arguments),
        drawing :meth:`draw_sample`; a sample with depth maps is drawn by
        mmseg's method."""
        if data_sample is not None and any(
                k in data_sample for k in ('gt_depth_map', 'pred_depth_map')):
            return super().add_datasample(name, image, data_sample, draw_gt,
                                          draw_pred, show, wait_time,
                                          out_file, step, with_labels)
        picture = self.draw_sample(image, data_sample, draw_gt, draw_pred,
                                   bool(with_labels))
        self.set_image(picture)
        if show:
            self.show(picture, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(mmcv.rgb2bgr(picture), out_file)
        else:
            self.add_image(name, picture, step)
