"""Tests for cnnkit.detect: IoU and NMS against tf.image, grid labels, the YOLO loss, mAP."""

import numpy as np
import pytest

from cnnkit import detect


def _random_boxes(rng, n):
    xy = rng.uniform(0, 0.8, size=(n, 2))
    wh = rng.uniform(0.02, 0.5, size=(n, 2))
    return np.concatenate([xy, np.minimum(xy + wh, 1.0)], axis=1)


def _iou_reference(a, b):
    """One pair at a time, in plain Python: the definition, nothing clever."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def _yxyx(boxes):
    return boxes[:, [1, 0, 3, 2]].astype(np.float32)


def test_iou_matches_reference_on_random_boxes():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b = _random_boxes(rng, 5), _random_boxes(rng, 4)
        expected = np.array([[_iou_reference(x, y) for y in b] for x in a])
        np.testing.assert_allclose(detect.iou(a, b), expected, rtol=1e-12, atol=1e-12)


def test_iou_hand_cases():
    a = np.array([[0, 0, 2, 2]])
    b = np.array([[1, 1, 3, 3], [0, 0, 2, 2], [2, 2, 3, 3], [0, 0, 0, 1]])
    # Overlap 1 of union 7; identical; touching corners only; a box with no area.
    np.testing.assert_allclose(detect.iou(a, b), [[1 / 7, 1.0, 0.0, 0.0]])
    assert detect.iou(np.zeros((0, 4)), b).shape == (0, 4)


def test_nms_equals_tf_image_on_random_cases():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(1)
    for case in range(300):
        n = int(rng.integers(1, 40))
        boxes = _random_boxes(rng, n)
        scores = rng.uniform(0, 1, size=n)
        iou_threshold = float(rng.choice([0.1, 0.3, 0.5, 0.7]))
        score_threshold = float(rng.choice([0.0, 0.2, 0.5]))
        ours = detect.nms(
            boxes, scores, iou_threshold=iou_threshold, score_threshold=score_threshold
        )
        theirs = tf.image.non_max_suppression(
            _yxyx(boxes),
            scores.astype(np.float32),
            max_output_size=n,
            iou_threshold=iou_threshold,
            score_threshold=score_threshold,
        ).numpy()
        np.testing.assert_array_equal(ours, theirs, err_msg=f"case {case}")


def test_nms_per_class_equals_tf_image_run_per_class():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(2)
    for _ in range(100):
        n = int(rng.integers(1, 30))
        boxes = _random_boxes(rng, n)
        scores = rng.uniform(0, 1, size=n)
        labels = rng.integers(0, 3, size=n)
        expected = []
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            kept = tf.image.non_max_suppression(
                _yxyx(boxes[idx]), scores[idx].astype(np.float32), len(idx), 0.4
            ).numpy()
            expected += idx[kept].tolist()
        expected = sorted(expected, key=lambda i: -scores[i])
        np.testing.assert_array_equal(
            detect.nms_per_class(boxes, scores, labels, iou_threshold=0.4), expected
        )


def test_nms_keeps_other_classes_and_drops_duplicates():
    boxes = np.array([[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.52, 0.5], [0.1, 0.1, 0.5, 0.5]])
    scores = np.array([0.9, 0.8, 0.7])
    np.testing.assert_array_equal(detect.nms(boxes, scores), [0])
    np.testing.assert_array_equal(detect.nms_per_class(boxes, scores, [0, 0, 1]), [0, 2])


def test_nms_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"`scores` must hold one score per box\. Received"):
        detect.nms(np.zeros((3, 4)), [1.0, 2.0])
    with pytest.raises(ValueError, match=r"`iou_threshold` must be in \[0, 1\]\. Received: 1.5"):
        detect.nms(np.zeros((1, 4)), [1.0], iou_threshold=1.5)
    with pytest.raises(ValueError, match=r"`boxes` must have shape \(N, 4\)"):
        detect.nms(np.zeros((3, 3)), [1.0, 2.0, 3.0])


def test_encode_grid_slides_example_3x3_three_classes():
    # A box centred in the middle cell of a 3x3 grid, class c2: the slides' 8-number vector.
    cx, cy, w, h = (1 + 0.4) / 3, (1 + 0.3) / 3, 0.7 / 3, 0.8 / 3
    box = [[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]]
    y = detect.encode_grid(box, [1], grid_size=3, num_classes=3)
    assert y.shape == (3, 3, 1, 8) and y.dtype == np.float32
    np.testing.assert_allclose(y[1, 1, 0], [1, 0.4, 0.3, 0.7, 0.8, 0, 1, 0], atol=1e-6)
    assert y[..., 0].sum() == 1  # the other 8 cells say P = 0 and nothing else
    assert np.count_nonzero(y) == 6


def test_encode_decode_round_trip_one_object_per_cell():
    rng = np.random.default_rng(3)
    for grid_size in (3, 7, 9):
        for _ in range(20):
            cells = rng.choice(grid_size * grid_size, size=int(rng.integers(1, 6)), replace=False)
            centres = (
                np.stack([cells % grid_size, cells // grid_size], 1)
                + rng.uniform(0.05, 0.95, size=(len(cells), 2))
            ) / grid_size
            room = np.minimum(centres, 1 - centres)  # keep boxes inside the image
            half = rng.uniform(0.1, 0.9, size=(len(cells), 2)) * np.minimum(room, 0.2)
            boxes = np.concatenate([centres - half, centres + half], axis=1)
            labels = rng.integers(0, 4, size=len(cells))
            y = detect.encode_grid(boxes, labels, grid_size=grid_size, num_classes=4)
            out_boxes, out_labels, out_scores = detect.decode_grid(y)
            order = np.lexsort((centres[:, 0], centres[:, 1]))
            back = np.lexsort(
                ((out_boxes[:, 0] + out_boxes[:, 2]), (out_boxes[:, 1] + out_boxes[:, 3]))
            )
            np.testing.assert_allclose(out_boxes[back], boxes[order], atol=1e-6)
            np.testing.assert_array_equal(out_labels[back], labels[order])
            np.testing.assert_array_equal(out_scores, 1.0)


def test_anchors_choose_best_shape_and_round_trip():
    anchors = [[0.3, 0.1], [0.1, 0.3]]  # wide, tall
    wide = [0.35, 0.45, 0.65, 0.55]
    tall = [0.45, 0.35, 0.55, 0.65]  # same centre, same cell: anchors keep both
    y = detect.encode_grid([wide, tall], [0, 2], grid_size=3, num_classes=3, anchors=anchors)
    assert y.shape == (3, 3, 2, 8)
    np.testing.assert_array_equal(y[1, 1, :, 0], [1, 1])
    np.testing.assert_array_equal(y[1, 1, 0, 5:], [1, 0, 0])
    np.testing.assert_array_equal(y[1, 1, 1, 5:], [0, 0, 1])
    boxes, labels, _ = detect.decode_grid(y)
    np.testing.assert_allclose(boxes, [wide, tall], atol=1e-6)
    np.testing.assert_array_equal(labels, [0, 2])
    assert detect.count_collisions([wide, tall], grid_size=3, anchors=anchors) == 0
    assert detect.count_collisions([wide, tall], grid_size=3) == 1


def test_collision_keeps_first_object():
    first = [0.40, 0.40, 0.50, 0.50]
    second = [0.52, 0.52, 0.68, 0.68]  # centre 0.6: the same middle cell of a 3x3 grid
    y = detect.encode_grid([first, second], [0, 1], grid_size=3, num_classes=3)
    boxes, labels, _ = detect.decode_grid(y)
    np.testing.assert_allclose(boxes, [first], atol=1e-6)
    np.testing.assert_array_equal(labels, [0])
    assert detect.count_collisions([first, second], grid_size=3) == 1
    assert detect.count_collisions([first, second], grid_size=9) == 0


def test_encode_grid_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"`labels` must be class ids in \[0, 3\)\. Received"):
        detect.encode_grid([[0.1, 0.1, 0.2, 0.2]], [3])
    with pytest.raises(ValueError, match=r"x_max >= x_min and y_max >= y_min.*Received"):
        detect.encode_grid([[0.3, 0.1, 0.2, 0.2]], [0])
    with pytest.raises(ValueError, match=r"x_min < x_max and y_min < y_max\. Received"):
        detect.encode_grid([[0.2, 0.1, 0.2, 0.2]], [0])  # zero width: no box to learn
    with pytest.raises(ValueError, match=r"`anchors` must be \(A, 2\) positive"):
        detect.encode_grid([[0.1, 0.1, 0.2, 0.2]], [0], anchors=[[0.1, -1]])
    with pytest.raises(ValueError, match=r"`y` must have shape \(S, S, A, 5 \+ C\)"):
        detect.decode_grid(np.zeros((3, 3, 8)))


def test_yolo_loss_perfect_prediction_is_zero():
    data = detect.shapes_detection(8, seed=5)
    loss = np.asarray(detect.yolo_loss(data.targets, data.targets))
    assert loss.shape == (8,)
    np.testing.assert_allclose(loss, 0.0, atol=1e-6)


def test_yolo_loss_hand_made_cases():
    true = np.zeros((1, 2, 2, 1, 7), dtype=np.float32)
    true[0, 0, 0, 0] = [1, 0.5, 0.5, 1.0, 1.0, 1, 0]
    cases = []
    pred = true.copy()
    pred[0, 0, 0, 0, 1] = 0.6  # x off by 0.1: 5 * 0.01
    cases.append((pred, 0.05))
    pred = true.copy()
    pred[0, 0, 0, 0, 3] = 0.25  # sqrt(1) - sqrt(0.25) = 0.5: 5 * 0.25
    cases.append((pred, 1.25))
    pred = true.copy()
    pred[0, 1, 1, 0, 0] = 0.4  # a ghost in an empty cell: 0.5 * 0.16
    cases.append((pred, 0.08))
    pred = true.copy()
    pred[0, 0, 0, 0, 0] = 0.7  # unsure of the real object: (1 - 0.7)^2
    cases.append((pred, 0.09))
    pred = true.copy()
    pred[0, 0, 0, 0, 5:] = [0, 1]  # wrong class: 1 + 1
    cases.append((pred, 2.0))
    pred = true.copy()
    pred[0, 1, 0, 0, 1:] = [0.9, 0.9, 3, 3, 0.5, 0.5]  # box numbers in an empty cell: free
    cases.append((pred, 0.0))
    for pred, expected in cases:
        np.testing.assert_allclose(np.asarray(detect.yolo_loss(true, pred)), [expected], rtol=1e-5)
    doubled = np.asarray(detect.yolo_loss(true, cases[0][0], lambda_coord=10.0))
    np.testing.assert_allclose(doubled, [0.1], rtol=1e-5)


def test_yolo_loss_gradient_is_finite_at_zero_width():
    tf = pytest.importorskip("tensorflow")
    true = np.zeros((1, 2, 2, 1, 7), dtype=np.float32)
    true[0, 0, 0, 0] = [1, 0.5, 0.5, 1.0, 1.0, 1, 0]
    pred = tf.Variable(np.where(np.arange(7) == 3, 0.0, true).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(detect.yolo_loss(true, pred))
    grad = tape.gradient(loss, pred).numpy()
    assert np.all(np.isfinite(grad)) and grad[0, 0, 0, 0, 3] < 0  # widen the box


def test_mean_average_precision_hand_checked():
    # Class 0: two true boxes; detections TP (0.9), FP (0.8), TP (0.7).
    # Precision envelope: 1.0 up to recall 0.5, then 2/3 up to recall 1.0. On COCO's 101
    # recall points: (51 * 1 + 50 * 2/3) / 101. Class 1: one true box found once, AP 1.
    true_boxes = [
        np.array([[0.1, 0.1, 0.4, 0.4], [0.6, 0.6, 0.9, 0.9]]),
        np.array([[0.2, 0.2, 0.5, 0.6]]),
    ]
    true_labels = [np.array([0, 0]), np.array([1])]
    pred_boxes = [
        np.array([[0.1, 0.1, 0.4, 0.42], [0.5, 0.0, 0.6, 0.1], [0.6, 0.6, 0.88, 0.9]]),
        np.array([[0.2, 0.2, 0.5, 0.6]]),
    ]
    pred_labels = [np.array([0, 0, 0]), np.array([1])]
    pred_scores = [np.array([0.9, 0.8, 0.7]), np.array([0.6])]
    detections = list(zip(pred_boxes, pred_labels, pred_scores, strict=True))
    result = detect.mean_average_precision(true_boxes, true_labels, detections, num_classes=3)
    ap0 = (51 + 50 * 2 / 3) / 101
    np.testing.assert_allclose(result["AP"][:2], [ap0, 1.0], rtol=1e-9)
    assert np.isnan(result["AP"][2])  # no true box of class 2: out of the mean
    np.testing.assert_allclose(result["mAP"], (ap0 + 1.0) / 2, rtol=1e-9)


def test_mean_average_precision_iou_threshold_and_no_detections():
    true = [np.array([[0.0, 0.0, 0.5, 0.5]])]
    shifted = [np.array([[0.1, 0.0, 0.6, 0.5]])]  # IoU = 0.4 / 0.6 = 2/3
    args = (true, [np.array([0])], [(shifted[0], np.array([0]), np.array([0.9]))])
    assert detect.mean_average_precision(*args, num_classes=1)["mAP"] == pytest.approx(1.0)
    assert detect.mean_average_precision(*args, num_classes=1, iou_threshold=0.7)["mAP"] == 0.0
    nothing = [(np.zeros((0, 4)), np.zeros(0), np.zeros(0))]
    empty = detect.mean_average_precision(true, [np.array([0])], nothing, num_classes=1)
    assert empty == {"mAP": 0.0, "AP": [0.0]}
    with pytest.raises(ValueError, match="must each hold one entry per image"):
        detect.mean_average_precision(true, [], [], num_classes=1)
    with pytest.raises(ValueError, match=r"a \(boxes, labels, scores\) triple"):
        detect.mean_average_precision(true, [np.array([0])], [shifted], num_classes=1)
    with pytest.raises(
        ValueError, match=r"must be class ids in \[0, 1\)\. Received: ids from 0 to 4"
    ):
        wrong_class = [(shifted[0], np.array([4]), np.array([0.9]))]
        detect.mean_average_precision(true, [np.array([0])], wrong_class, num_classes=1)


def test_shapes_detection_is_reproducible_and_labelled_exactly():
    a = detect.shapes_detection(12, image_size=64, grid_size=4, seed=7)
    b = detect.shapes_detection(12, image_size=64, grid_size=4, seed=7)
    assert a.images.shape == (12, 64, 64, 3) and a.images.dtype == np.uint8
    assert a.targets.shape == (12, 4, 4, 1, 8) and len(a) == 12
    np.testing.assert_array_equal(a.images, b.images)
    for boxes, labels, target in zip(a.boxes, a.labels, a.targets, strict=True):
        assert 1 <= len(boxes) <= 3
        assert detect.count_collisions(boxes, grid_size=4) == 0
        decoded, decoded_labels, _ = detect.decode_grid(target)
        assert len(decoded) == len(boxes)
        assert set(decoded_labels.tolist()) == set(labels.tolist())
    with pytest.raises(ValueError, match=r"`classes` must be shape kinds"):
        detect.shapes_detection(1, classes=("blob",))


def test_tiny_yolo_output_layout():
    model = detect.tiny_yolo((64, 64, 3), grid_size=4, num_classes=3, num_anchors=2, width=4)
    out = np.asarray(model(np.zeros((2, 64, 64, 3), dtype=np.float32)))
    assert out.shape == (2, 4, 4, 2, 8)
    assert np.all((out[..., :3] > 0) & (out[..., :3] < 1))
    assert np.all(out[..., 3:5] > 0)
    np.testing.assert_allclose(out[..., 5:].sum(-1), 1.0, rtol=1e-5)
    assert model.get_layer("stage1_conv").filters == 4  # width=4: the first stage's filters
    assert model.get_layer("stage4_pool").output.shape[1:3] == (4, 4)  # 64 / 2**4 = S
    with pytest.raises(ValueError, match=r"grid_size times a power of two\. Received"):
        detect.tiny_yolo((96, 96, 3), grid_size=5)


def test_pyramid_windows_counts():
    # 128 px, 64 px windows, step 32: 3 x 3 = 9; 128 / 2 = 64: 1; 32 < 64: stop.
    assert detect.pyramid_windows(128, window=64, step=32, scale=2) == [(128, 9), (64, 1)]
    with pytest.raises(ValueError, match="`scale` must be greater than 1"):
        detect.pyramid_windows(128, scale=1.0)


def test_draw_boxes_returns_figure_with_one_rectangle_per_box():
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    data = detect.shapes_detection(1, seed=3)
    fig = detect.draw_boxes(
        data.images[0],
        data.boxes[0],
        data.labels[0],
        np.ones(len(data.labels[0])),
        class_names=data.class_names,
        grid_size=6,
    )
    ax = fig.axes[0]
    assert sum(isinstance(p, Rectangle) for p in ax.patches) == len(data.boxes[0])
    assert len(ax.lines) == 10  # 5 inner horizontal and 5 inner vertical grid lines
    assert ax.texts[0].get_text().endswith("1.00")
    plt.close(fig)


class _Oracle:
    """Stands in for a trained network: "predicts" the true grids, plus one duplicate box."""

    def __init__(self, grids):
        self.grids = grids

    def predict(self, images, batch_size=None, verbose=0):
        # detect() scales images by the kit's rule, as tiny_yolo (no Rescaling layer) expects.
        assert images.dtype == np.float32 and images.min() >= 0.0 and images.max() <= 1.0
        out = self.grids[: len(images)].copy()
        out[0, 5, 5, 0] = [0.6, 0.5, 0.5, 1.0, 1.0, 1.0, 0.0, 0.0]  # a low-scoring false circle
        return out


def test_detect_decodes_applies_nms_and_scores_perfect_map():
    data = detect.shapes_detection(6, seed=9)
    model = _Oracle(data.targets)
    found = detect.detect(model, data.images, score_threshold=0.5)
    assert len(found) == 6 and all(isinstance(d, detect.Detections) for d in found)
    first = found[0]
    assert len(first.boxes) == len(first.labels) == len(first.scores) == len(data.boxes[0]) + 1
    assert first.scores[-1] == pytest.approx(0.6) and np.all(np.diff(first.scores) <= 0)
    for image, true in zip(found[1:], data.boxes[1:], strict=True):
        np.testing.assert_allclose(np.sort(image.boxes, axis=0), np.sort(true, axis=0), atol=1e-6)
    result = detect.mean_average_precision(data.boxes, data.labels, found, num_classes=3)
    assert result["mAP"] == pytest.approx(1.0)  # the extra box ranks last: precision stays 1
    fewer = detect.detect(model, data.images, score_threshold=0.7)
    assert len(fewer[0].boxes) == len(data.boxes[0])
