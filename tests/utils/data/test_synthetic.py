import time

import numpy as np
import yaml

from utils.data.dataset_files import list_images
from utils.data.label_scan import scan_labels
from utils.data.synthetic import SHAPE_NAMES, build_shapes, synthetic_image


def test_layout_labels_and_speed(tmp_path):
    start = time.perf_counter()
    root = build_shapes(tmp_path / "shapes", num_train=40, num_val=10, seed=5)
    assert time.perf_counter() - start < 5
    assert len(SHAPE_NAMES) >= 3
    scan = scan_labels(list_images(root / "images" / "train"), num_classes=len(SHAPE_NAMES))
    assert len(scan.images) == 40 and scan.counts["corrupt"] == 0 and scan.counts["dropped"] == 0
    assert scan.counts["found"] >= 30
    assert ((scan.shapes >= 160) & (scan.shapes <= 320)).all()
    classes = np.concatenate(scan.labels)[:, 0]
    assert set(classes.astype(int)) == set(range(len(SHAPE_NAMES)))
    assert len(list((root / "images" / "val").glob("*.jpg"))) == 10 and (root / "data.yaml").is_file()


def test_same_seed_same_files(tmp_path):
    a = build_shapes(tmp_path / "a", num_train=6, num_val=2, seed=1)
    b = build_shapes(tmp_path / "b", num_train=6, num_val=2, seed=1)
    c = build_shapes(tmp_path / "c", num_train=6, num_val=2, seed=2)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and p.name != "data.yaml")
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    yamls = [yaml.safe_load((root / "data.yaml").read_text()) for root in (a, b)]
    assert [d.pop("path") for d in yamls] == [str(a), str(b)] and yamls[0] == yamls[1]  # absolute, for YOLOv5
    assert (a / "labels/train/00000.txt").read_bytes() != (c / "labels/train/00000.txt").read_bytes()


def test_labels_match_drawn_shapes():
    """Each box is the exact extent of its shape: the shape's colour touches all 4 box edges."""
    for seed in range(5):
        img, labels = synthetic_image(np.random.default_rng(seed))
        h, w = img.shape[:2]
        for _, x, y, bw, bh in labels:
            x1, y1 = round((x - bw / 2) * w), round((y - bh / 2) * h)
            x2, y2 = round((x + bw / 2) * w) - 1, round((y + bh / 2) * h) - 1
            cy, cx = (y1 + y2) // 2, (x1 + x2) // 2  # the box centre is inside every shape, triangles included
            colour = np.median(img[cy - 1 : cy + 2, cx - 1 : cx + 2].reshape(-1, 3), axis=0)
            edges = [img[y1, x1 : x2 + 1], img[y2, x1 : x2 + 1], img[y1 : y2 + 1, x1], img[y1 : y2 + 1, x2]]
            assert all((np.abs(e.astype(int) - colour).max(axis=1) < 40).any() for e in edges)
