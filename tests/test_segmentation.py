"""Tests for cnnkit.detect.shapes_segmentation: generated shape images with pixel masks."""

import numpy as np
import pytest
from scipy import ndimage

from cnnkit import detect


def _blobs(mask, k):
    """The connected blobs of class value k: a list of (rows, cols) slices and their pixels."""
    labelled, _ = ndimage.label(mask == k)
    return [
        (slices, labelled[slices] == n + 1)
        for n, slices in enumerate(ndimage.find_objects(labelled))
    ]


def test_shapes_and_values():
    images, masks = detect.shapes_segmentation(10, image_size=48, seed=0)
    assert images.shape == (10, 48, 48, 3) and images.dtype == np.uint8
    assert masks.shape == (10, 48, 48) and np.issubdtype(masks.dtype, np.integer)
    assert set(np.unique(masks)) <= {0, 1, 2, 3}
    # Every image holds at least one shape, and background is the most common value.
    assert (masks.reshape(10, -1).max(axis=1) > 0).all()
    assert np.bincount(masks.ravel()).argmax() == 0


def test_reproducible_with_a_seed():
    a = detect.shapes_segmentation(4, image_size=32, seed=3)
    b = detect.shapes_segmentation(4, image_size=32, seed=3)
    c = detect.shapes_segmentation(4, image_size=32, seed=4)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[1], c[1])


def _check_flat_blobs(images, masks, most_colours):
    for image, mask in zip(images, masks, strict=True):
        ring = ndimage.binary_dilation(mask > 0) & (mask == 0)  # background next to a shape
        for k in (1, 2, 3):
            for slices, inside in _blobs(mask, k):
                colours = np.unique(image[slices][inside], axis=0)
                # Flat fills: one colour per shape (touching shapes of one class share a blob).
                assert len(colours) <= most_colours, f"class {k} blob holds {len(colours)} colours"
                for colour in colours:
                    assert not (image[ring] == colour).all(axis=1).any()


def test_each_labelled_blob_is_flat_colour_that_differs_from_its_surroundings():
    images, masks = detect.shapes_segmentation(20, image_size=64, seed=1)
    _check_flat_blobs(images, masks, most_colours=3)
    images, masks = detect.shapes_segmentation(20, image_size=64, max_objects=1, seed=1)
    _check_flat_blobs(images, masks, most_colours=1)


def test_mask_values_follow_the_class_order():
    # A triangle fills about half of its bounding box, a circle about pi/4 of it.
    images, masks = detect.shapes_segmentation(40, image_size=64, seed=2)
    fill = {k: [] for k in (1, 2, 3)}
    for mask in masks:
        for k in fill:
            fill[k] += [inside.mean() for _, inside in _blobs(mask, k) if inside.size > 30]
    circle, square, triangle = (np.mean(fill[k]) for k in (1, 2, 3))
    assert detect.SCENE_CLASSES == ("circle", "square", "triangle")
    assert abs(circle - np.pi / 4) < 0.06
    assert triangle < 0.62 < square
    stars, star_masks = detect.shapes_segmentation(5, image_size=32, classes=("star",), seed=0)
    assert set(np.unique(star_masks)) == {0, 1}


def test_max_objects_and_empty():
    _, masks = detect.shapes_segmentation(30, image_size=64, max_objects=1, seed=5)
    assert all(sum(len(_blobs(m, k)) for k in (1, 2, 3)) == 1 for m in masks)
    images, masks = detect.shapes_segmentation(0, image_size=32)
    assert images.shape == (0, 32, 32, 3) and masks.shape == (0, 32, 32)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": -1}, r"`n` must be a non-negative number of images. Received: n=-1"),
        ({"n": 2, "image_size": 8}, r"`image_size` must be at least 16.*Received: image_size=8"),
        ({"n": 2, "classes": ("blob",)}, r"`classes` must be shape kinds.*Received: classes="),
        ({"n": 2, "classes": ()}, r"`classes` must be shape kinds.*Received: classes=\(\)"),
        ({"n": 2, "max_objects": 0}, r"`max_objects` must be at least 1.*Received: max_objects=0"),
        (
            {"n": 2, "image_size": 32, "radius_range": (5, 20)},
            r"`radius_range` must be \(min, max\) with 0 < min <= max <= image_size / 2.5.*"
            r"Received: radius_range=\(5, 20\)",
        ),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    n = kwargs.pop("n")
    with pytest.raises(ValueError, match=match):
        detect.shapes_segmentation(n, **kwargs)
