"""Mean average precision of detections, by pycocotools (the COCO reference implementation)."""

from __future__ import annotations

import contextlib
import io

import numpy as np

from .boxes import as_boxes

__all__ = ["mean_average_precision"]


def mean_average_precision(
    true_boxes,
    true_labels,
    detections,
    *,
    num_classes: int,
    iou_threshold: float = 0.5,
) -> dict:
    """COCO-style average precision per class at one IoU threshold, and its mean (mAP).

    Computed by pycocotools' ``COCOeval`` (101-point interpolated precision-recall, up to
    100 detections per image), not by hand: ground truth and detections are put into
    COCO format in memory.

    Args:
        true_boxes: per image, (k, 4) true boxes as (x_min, y_min, x_max, y_max).
        true_labels: per image, (k,) class ids.
        detections: per image, a ``(boxes, labels, scores)`` triple of (m, 4) predicted
            boxes, (m,) class ids and (m,) confidences: what :func:`cnnkit.detect.detect`
            returns.
        num_classes: C; classes without any true box get AP NaN and stay out of the mean.
        iou_threshold: a detection matches a true box of its class when IoU >= this.

    Returns:
        ``{"mAP": float, "AP": [float] * num_classes}``.

    See notebooks/10_yolo_grid_labels.ipynb.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    n = len(true_boxes)
    if not (len(true_labels) == len(detections) == n):
        raise ValueError(
            "`true_boxes`, `true_labels` and `detections` must each hold one entry per image. "
            f"Received lengths: {[len(v) for v in (true_boxes, true_labels, detections)]}"
        )
    if any(len(d) != 3 for d in detections):
        raise ValueError(
            "each entry of `detections` must be a (boxes, labels, scores) triple, as "
            "`cnnkit.detect.detect` returns. Received entries of lengths: "
            f"{sorted({len(d) for d in detections})}"
        )
    pred_boxes, pred_labels, pred_scores = ([d[k] for d in detections] for k in range(3))
    # COCO wants (x, y, width, height) in pixels; IoU does not care about the unit.
    scale = 1000.0

    def xywh(b):
        b = as_boxes(b, "boxes") * scale
        return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)

    annotations, results = [], []
    for i in range(n):
        for box, lab in zip(
            xywh(true_boxes[i]), np.asarray(true_labels[i]).reshape(-1), strict=True
        ):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i,
                    "category_id": int(lab),
                    "bbox": box.tolist(),
                    "area": float(box[2] * box[3]),
                    "iscrowd": 0,
                }
            )
        scores = np.asarray(pred_scores[i]).reshape(-1)
        for box, lab, sc in zip(
            xywh(pred_boxes[i]), np.asarray(pred_labels[i]).reshape(-1), scores, strict=True
        ):
            results.append(
                {
                    "image_id": i,
                    "category_id": int(lab),
                    "bbox": box.tolist(),
                    "score": float(sc),
                    "area": float(box[2] * box[3]),
                    "id": len(results) + 1,
                    "iscrowd": 0,
                }
            )
    used = np.concatenate(
        [np.asarray(v, dtype=np.int64).reshape(-1) for v in (*true_labels, *pred_labels)] or [[0]]
    )
    if used.min() < 0 or used.max() >= num_classes:
        raise ValueError(
            "`true_labels` and the labels in `detections` must be class ids in "
            f"[0, {num_classes}). "
            f"Received: ids from {used.min()} to {used.max()}"
        )
    present = np.zeros(num_classes, dtype=bool)
    present[[a["category_id"] for a in annotations]] = True
    ap = np.where(present, 0.0, np.nan)
    if results and annotations:
        gt = COCO()
        gt.dataset = {
            "images": [{"id": i} for i in range(n)],
            "annotations": annotations,
            "categories": [{"id": c} for c in range(num_classes)],
        }
        # pycocotools reports progress on stdout; a library call should stay quiet.
        with contextlib.redirect_stdout(io.StringIO()):
            gt.createIndex()
            dt = COCO()
            dt.dataset = {
                "images": gt.dataset["images"],
                "annotations": results,
                "categories": gt.dataset["categories"],
            }
            dt.createIndex()
            ev = COCOeval(gt, dt, iouType="bbox")
            ev.params.iouThrs = np.array([iou_threshold])
            ev.params.maxDets = [100]
            ev.params.areaRng = [[0.0, 1e10]]
            ev.params.areaRngLbl = ["all"]
            ev.evaluate()
            ev.accumulate()
        precision = ev.eval["precision"][0, :, :, 0, 0]  # (recall points, classes)
        for c in range(num_classes):
            column = precision[:, c]
            if present[c]:
                ap[c] = float(np.mean(np.where(column > -1, column, 0.0)))
    m = float(np.nanmean(ap)) if present.any() else float("nan")
    return {"mAP": m, "AP": ap.tolist()}
