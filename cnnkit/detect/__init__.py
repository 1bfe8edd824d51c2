"""Object detection the YOLO way: boxes, IoU, NMS, grid labels, the YOLO v1 loss, shapes, mAP.

Boxes are ``(x_min, y_min, x_max, y_max)`` in image-relative ``[0, 1]`` coordinates unless a
function says otherwise. A grid label has shape ``(S, S, A, 5 + C)``, indexed
``[row, column, anchor]``, and holds ``P, bx, by, bw, bh, c1 ... cC`` as the slides define it:
``bx, by`` place the box centre relative to the top-left corner of its cell in ``[0, 1]``,
``bw, bh`` give the box size in cell units (> 0, may exceed 1).

IoU and NMS are written by hand in NumPy for teaching and tested equal to ``tf.image``;
mean average precision comes from pycocotools, the COCO reference implementation.

See notebooks/10_yolo_grid_labels.ipynb.
"""

from ..models.yolo import tiny_yolo
from .boxes import iou, nms, nms_per_class, pyramid_windows
from .grid import Detections, count_collisions, decode_grid, detect, encode_grid
from .loss import yolo_loss
from .metrics import mean_average_precision
from .plots import draw_boxes
from .scenes import SCENE_CLASSES, DetectionSet, shapes_detection, shapes_segmentation

__all__ = [
    "SCENE_CLASSES",
    "DetectionSet",
    "Detections",
    "count_collisions",
    "decode_grid",
    "detect",
    "draw_boxes",
    "encode_grid",
    "iou",
    "mean_average_precision",
    "nms",
    "nms_per_class",
    "pyramid_windows",
    "shapes_detection",
    "shapes_segmentation",
    "tiny_yolo",
    "yolo_loss",
]
