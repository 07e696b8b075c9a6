import logging

import numpy as np
import pytest
from PIL import Image

import utils.data.label_scan as label_scan
from utils.data.dataset_files import image_to_label_path, list_images
from utils.data.label_scan import parse_label_file, scan_labels
from utils.errors import UserError


def write_image(path, size=(64, 48)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), 100, np.uint8)).save(path)
    return str(path)


def write_label(image_path, text):
    label = image_to_label_path(image_path)
    from pathlib import Path

    Path(label).parent.mkdir(parents=True, exist_ok=True)
    Path(label).write_text(text)
    return label


def test_image_to_label_path_uses_last_images_folder(tmp_path):
    img = tmp_path / "images" / "x" / "images" / "a.b.jpg"
    assert image_to_label_path(img) == str(tmp_path / "images" / "x" / "labels" / "a.b.txt")
    assert image_to_label_path(tmp_path / "flat" / "a.png") == str(tmp_path / "flat" / "a.txt")


def test_list_images_from_folder_txt_and_list(tmp_path):
    a = write_image(tmp_path / "images" / "train" / "a.jpg")
    b = write_image(tmp_path / "images" / "train" / "sub" / "b.png")
    (tmp_path / "images" / "train" / "notes.md").write_text("x")
    (tmp_path / "list.txt").write_text("images/train/a.jpg\n\n./images/train/sub/b.png\n")
    assert list_images(tmp_path / "images" / "train") == sorted([a, b])
    assert list_images(tmp_path / "list.txt") == sorted([a, b])
    assert list_images([tmp_path / "list.txt", tmp_path / "images" / "train"]) == sorted([a, b])  # de-duplicated
    with pytest.raises(UserError, match="missing_dir: not found"):
        list_images(tmp_path / "missing_dir")


def test_parse_label_file_drops_and_fixes(tmp_path):
    label = tmp_path / "l.txt"
    label.write_text(
        "0 0.5 0.5 0.2 0.2\n"  # good
        "0 0.5 0.5 0.2 0.2\n"  # duplicate
        "1 0.5 0.5 0.2\n"  # 4 values
        "1 0.5 abc 0.2 0.2\n"  # non-numeric
        "1 1.2 0.5 0.2 0.2\n"  # centre outside 0..1
        "1 1.0005 0.5 0.001 0.2\n"  # slightly out: clipped, kept
        "2 0.5 0.5 0.0 0.2\n"  # zero size
        "1.5 0.5 0.5 0.2 0.2\n"  # non-integer class
        "2 0.95 0.5 0.2 0.2\n"  # crosses the border: clipped to 0.85..1
        "\n"
        "2 0.1 0.1 0.3 0.1 0.2 0.4\n"  # polygon -> box
    )
    parsed = parse_label_file(label, num_classes=3)
    assert parsed.dropped == 5 and parsed.duplicates == 1
    assert parsed.labels.dtype == np.float32 and parsed.labels.shape == (4, 5)
    assert np.allclose(parsed.labels[0], [0, 0.5, 0.5, 0.2, 0.2])
    assert np.allclose(parsed.labels[1], [1, 0.99975, 0.5, 0.0005, 0.2], atol=1e-5)
    assert np.allclose(parsed.labels[2], [2, 0.925, 0.5, 0.15, 0.2])
    assert np.allclose(parsed.labels[3], [2, 0.2, 0.25, 0.2, 0.3])
    text = "; ".join(parsed.reasons)
    for reason in (
        "line 3: expected 5 numbers",
        "line 4: non-numeric",
        "line 5: coordinates outside 0..1",
        "line 7: zero-size box",
        "line 8: class id",
        "line 9: box crosses the image border",
        "1 duplicate rows removed",
    ):
        assert reason in text


def test_class_id_out_of_range_stops_with_file_and_line(tmp_path):
    label = tmp_path / "l.txt"
    label.write_text("0 0.5 0.5 0.2 0.2\n3 0.5 0.5 0.2 0.2\n")
    with pytest.raises(UserError, match=r"l\.txt:2: class id 3 but the dataset YAML has nc=3"):
        parse_label_file(label, num_classes=3)


@pytest.fixture
def mixed_split(tmp_path):
    """5 images: labelled, missing label, empty label, corrupt image, labels with a duplicate and a bad line."""
    root = tmp_path / "images" / "train"
    good = write_image(root / "good.jpg")
    write_label(good, "0 0.5 0.5 0.2 0.2\n")
    write_image(root / "nolabel.jpg")
    write_label(write_image(root / "empty.jpg"), "")
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8 garbage")
    write_label(str(root / "corrupt.jpg"), "0 0.5 0.5 0.2 0.2\n")
    write_label(write_image(root / "dup.png"), "1 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2\n1 2 2 2 2\n")
    return list_images(root)


def test_scan_counts_and_warnings(mixed_split, caplog):
    with caplog.at_level(logging.INFO):
        result = scan_labels(mixed_split, num_classes=2, workers=2)
    assert result.counts == {"found": 2, "missing": 1, "empty": 1, "corrupt": 1, "duplicates": 1, "dropped": 1}
    assert len(result.images) == 4 and not any("corrupt" in p for p in result.images)
    assert result.shapes.tolist() == [[48, 64]] * 4
    assert result.summary() == (
        "2 images with labels, 1 missing, 1 empty, 1 corrupt, 1 duplicate labels removed, 1 bad label lines dropped"
    )
    assert "corrupt.jpg" in caplog.text and "dup.txt" in caplog.text and "coordinates outside" in caplog.text
    assert result.summary() in caplog.text


def test_cache_is_reused_then_invalidated(mixed_split, monkeypatch):
    first = scan_labels(mixed_split, num_classes=2)
    cache = image_to_label_path(mixed_split[0]).rsplit("/", 1)[0] + ".cache"
    assert (label_scan.Path(cache)).is_file()

    def fail(*args):
        raise AssertionError("cache not used")

    monkeypatch.setattr(label_scan, "check_pair", fail)
    cached = scan_labels(mixed_split, num_classes=2)
    assert cached.counts == first.counts and cached.images == first.images
    assert all(np.array_equal(a, b) for a, b in zip(cached.labels, first.labels, strict=True))
    monkeypatch.undo()
    empty = next(p for p in mixed_split if p.endswith("empty.jpg"))
    write_label(empty, "0 0.5 0.5 0.4 0.4\n0 0.2 0.2 0.1 0.1\n")  # edit -> new size and mtime
    rescanned = scan_labels(mixed_split, num_classes=2)
    assert rescanned.counts["found"] == 3 and rescanned.counts["empty"] == 0


def test_unwritable_cache_only_warns(mixed_split, tmp_path, caplog):
    result = scan_labels(mixed_split, num_classes=2, cache_path=tmp_path / "no_such_dir" / "x.cache")
    assert result.counts["found"] == 2
    assert "cache not saved" in caplog.text and "no_such_dir" in caplog.text
