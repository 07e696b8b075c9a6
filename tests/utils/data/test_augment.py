"""Augmentation tests. The geometry test draws one uniquely coloured rectangle per label, augments, and checks
every surviving label against the rectangle found again in the augmented pixels."""

import cv2
import numpy as np
import pytest

from utils.boxes import box_iou, xywhn_to_xyxy
from utils.data.augment import augment_hsv, box_candidates, flip_lr, flip_ud, mixup, mosaic4, random_perspective
from utils.data.dataset import YoloDataset
from utils.data.options import LoaderOptions

# Saturated colours far from the grey (114) background and from each other; the class id indexes this table.
PALETTE = np.array(
    [
        (255, 0, 0),
        (0, 255, 0),
        (0, 0, 255),
        (255, 255, 0),
        (255, 0, 255),
        (0, 255, 255),
        (0, 0, 0),
        (255, 255, 255),
        (255, 128, 0),
        (128, 0, 255),
        (0, 128, 255),
        (128, 255, 0),
    ],
    np.uint8,
)
GEOMETRY_HYP = {
    "hsv_h": 0.0,
    "hsv_s": 0.0,
    "hsv_v": 0.0,
    "degrees": 15.0,
    "translate": 0.2,
    "scale": 0.5,
    "shear": 5.0,
    "perspective": 0.0005,
    "flipud": 0.5,
    "fliplr": 0.5,
    "mosaic": 1.0,
    "mixup": 0.0,
    "copy_paste": 0.0,
}


def rectangles_image(rng, ids, size=(240, 320)):
    """Grey image with up to one filled rectangle per id (colour PALETTE[id]), 6 px apart; labels pixel xyxy."""
    img = np.full((*size, 3), 114, np.uint8)
    labels = []
    for cls in ids:
        for _ in range(100):
            w, h = rng.integers(40, 110, 2)
            x1, y1 = rng.integers(6, size[1] - w - 6), rng.integers(6, size[0] - h - 6)
            box = np.array([x1, y1, x1 + w, y1 + h], float)
            if all(box[2] + 6 < b[1] or box[0] > b[3] + 6 or box[3] + 6 < b[2] or box[1] > b[4] + 6 for b in labels):
                break
        else:
            continue  # no room left: skip this rectangle
        img[y1 : y1 + h, x1 : x1 + w] = PALETTE[cls]
        labels.append([cls, *box])
    return img, np.array(labels, float).reshape(-1, 5)


def found_boxes(img, cls):
    """Boxes (pixel-edge xyxy) of the connected regions of colour PALETTE[cls].

    Interpolation blends edge pixels with the grey background, so a pixel counts when it is a mix of grey and the
    colour with at least 20% colour: thin slivers at the image border (sub-pixel wide) are still found.
    """
    pixels, grey = img.astype(float) - 114, PALETTE[cls].astype(float) - 114
    alpha = pixels @ grey / (grey @ grey)  # share of the colour in a grey/colour mix
    residual = np.abs(pixels - alpha[..., None] * grey).max(axis=2)  # far from the mix line: another colour
    count, _, stats, _ = cv2.connectedComponentsWithStats(((alpha > 0.2) & (residual < 30)).astype(np.uint8))
    return np.array([[x, y, x + w, y + h] for x, y, w, h, area in stats[1:count] if area >= 4], float).reshape(-1, 4)


def assert_labels_cover_rectangles(img, labels):
    """Every label (pixel xyxy) matches a rectangle found in ``img``: IoU > 0.9, or edges within 2 px when small."""
    for cls, *box in labels:
        found = found_boxes(img, int(cls))
        assert len(found), f"class {int(cls)}: labelled but no pixels of its colour"
        iou = box_iou(np.array([box]), found)[0]
        best = found[iou.argmax()]
        if min(box[2] - box[0], box[3] - box[1]) >= 16:
            assert iou.max() > 0.9, f"class {int(cls)}: label {np.round(box, 1)} vs pixels {best}, IoU {iou.max():.3f}"
        else:
            assert np.abs(best - np.array(box)).max() < 2, f"class {int(cls)}: {np.round(box, 1)} vs {best}"


@pytest.mark.parametrize("seed", range(8))
def test_random_perspective_boxes_follow_pixels(seed):
    rng = np.random.default_rng(seed)
    img, labels = rectangles_image(rng, range(6))
    out, out_labels = random_perspective(
        img, labels, degrees=20, translate=0.2, scale=0.5, shear=5, perspective=0.0005, rng=rng
    )
    assert out.shape == img.shape and out_labels.shape[1] == 5
    assert_labels_cover_rectangles(out, out_labels)


def test_identity_perspective_keeps_everything():
    img, labels = rectangles_image(np.random.default_rng(0), range(4))
    out, out_labels = random_perspective(img, labels, 0, 0, 0, 0, 0, rng=np.random.default_rng(0))
    assert np.array_equal(out, img) and np.allclose(out_labels, labels)


@pytest.fixture(scope="module")
def rectangles_dataset(tmp_path_factory):
    """6 images x 2 rectangles with classes 0..11, so each colour is one object of the dataset."""
    root = tmp_path_factory.mktemp("rects")
    rng = np.random.default_rng(0)
    for i in range(6):
        img, labels = rectangles_image(rng, [2 * i, 2 * i + 1], size=(int(rng.integers(200, 320)), 320))
        (root / "images").mkdir(exist_ok=True)
        (root / "labels").mkdir(exist_ok=True)
        cv2.imwrite(str(root / "images" / f"{i}.png"), img)
        h, w = img.shape[:2]
        rows = [
            f"{int(c)} {(x1 + x2) / 2 / w} {(y1 + y2) / 2 / h} {(x2 - x1) / w} {(y2 - y1) / h}"
            for c, x1, y1, x2, y2 in labels
        ]
        (root / "labels" / f"{i}.txt").write_text("\n".join(rows) + "\n")
    return root / "images"


def test_mosaic_pipeline_labels_follow_pixels(rectangles_dataset):
    dataset = YoloDataset(
        rectangles_dataset, LoaderOptions(imgsz=320, augment=True, hyp=GEOMETRY_HYP, num_classes=12, seed=1, workers=1)
    )
    survivors = 0
    for index in list(range(len(dataset))) * 4:
        image, targets, _, shapes = dataset[index]
        assert image.shape == (3, 320, 320) and shapes is None
        img = np.ascontiguousarray(image.numpy().transpose(1, 2, 0)[:, :, ::-1])  # back to BGR HWC
        boxes = xywhn_to_xyxy(targets[:, 2:].numpy(), 320, 320)
        assert_labels_cover_rectangles(img, np.concatenate([targets[:, 1:2].numpy(), boxes], 1))
        survivors += len(targets)
    assert survivors > 48  # most rectangles survive: the check above is not vacuous


def test_mosaic4_places_four_images_and_clips_labels():
    rng = np.random.default_rng(3)
    images, labels = zip(*(rectangles_image(rng, [2 * i, 2 * i + 1], size=(160, 160)) for i in range(4)), strict=True)
    canvas, out = mosaic4(list(images), list(labels), 160, rng)
    assert canvas.shape == (320, 320, 3)
    assert out.shape == (sum(map(len, labels)), 5) and (out[:, 1:] >= 0).all() and (out[:, 1:] <= 320).all()
    visible = out[(out[:, 3] - out[:, 1] > 4) & (out[:, 4] - out[:, 2] > 4)]
    assert_labels_cover_rectangles(canvas, visible)


def test_flips_move_boxes_with_pixels():
    img, labels = rectangles_image(np.random.default_rng(5), [0, 1])
    h, w = img.shape[:2]
    xywhn = np.concatenate(
        [
            labels[:, :1],
            (labels[:, [1, 2]] + labels[:, [3, 4]]) / 2 / [w, h],
            (labels[:, [3, 4]] - labels[:, [1, 2]]) / [w, h],
        ],
        1,
    )
    for flip in (flip_lr, flip_ud):
        out, flipped = flip(img, xywhn)
        boxes = np.concatenate([flipped[:, :1], xywhn_to_xyxy(flipped[:, 1:], w, h)], 1)
        assert_labels_cover_rectangles(out, boxes)
        assert np.allclose(flip(*flip(img, xywhn))[1], xywhn)


def test_hsv_changes_colours_not_shape():
    img, _ = rectangles_image(np.random.default_rng(0), [8, 9])
    assert augment_hsv(img, 0, 0, 0, np.random.default_rng(0)) is img
    out = augment_hsv(img, 0.5, 0.7, 0.4, np.random.default_rng(0))
    assert out.shape == img.shape and out.dtype == np.uint8 and not np.array_equal(out, img)


def test_mixup_blends_and_keeps_both_label_sets():
    a, b = np.full((32, 32, 3), 0, np.uint8), np.full((32, 32, 3), 200, np.uint8)
    img, labels = mixup(a, np.ones((2, 5)), b, np.zeros((3, 5)), np.random.default_rng(0))
    assert labels.shape == (5, 5) and 60 < img.mean() < 140


def test_box_candidates_drops_tiny_and_mostly_cut_boxes():
    before = np.array([[0, 0, 100, 100], [0, 0, 100, 100], [0, 0, 100, 100], [0, 0, 100, 100]], float)
    after = np.array([[0, 0, 90, 90], [0, 0, 1.5, 100], [0, 0, 20, 20], [0, 0, 35, 35]], float)
    assert box_candidates(before, after).tolist() == [True, False, False, True]
