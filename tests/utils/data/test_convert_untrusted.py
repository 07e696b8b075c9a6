"""The converters on bad input (issue 18): same-named images, paths that leave the source folder, non-finite or
non-numeric coordinates, malformed COCO JSON and VOC XML. Every input is built here, from tiny files."""

import json
import math

import cv2
import numpy as np
import pytest

from utils.data.convert import convert_coco, convert_voc, main
from utils.errors import UserError


def _image(path, height=40, width=80):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((height, width, 3), 90, np.uint8))


def _files(root):
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _on_disk(out):
    """(images per split, label lines per split) as found in ``out``; every label line holds finite numbers."""
    images, lines = {}, {}
    for split_dir in sorted((out / "images").iterdir()) if (out / "images").is_dir() else []:
        images[split_dir.name] = len(list(split_dir.iterdir()))
        rows = [r for f in (out / "labels" / split_dir.name).iterdir() for r in f.read_text().splitlines()]
        assert all(math.isfinite(float(v)) for r in rows for v in r.split()), rows
        lines[split_dir.name] = len(rows)
    return images, lines


def _assert_counts_match_disk(report, out):
    images, lines = _on_disk(out)
    assert images == dict(report.images)
    assert sum(lines.values()) == sum(report.boxes_written.values())
    assert report.boxes_read == sum(report.boxes_written.values()) + report.boxes_dropped


def _write_coco(path, images, annotations, categories=None):
    categories = [{"id": 1, "name": "dog"}] if categories is None else categories
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


def _ann(ann_id, image_id, bbox, **extra):
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "bbox": bbox, "iscrowd": 0, **extra}


def _voc_xml(path, filename, objects):
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f"<object>{o}</object>" for o in objects)
    path.write_text(f"<annotation><filename>{filename}</filename>{body}</annotation>")


def _voc_object(name="dog", xmin=1, ymin=1, xmax=30, ymax=20):
    corners = f"<xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax>"
    return f"<name>{name}</name><bndbox>{corners}</bndbox>"


def _image_sets(src, **splits):
    (src / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    for split, ids in splits.items():
        (src / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))


# 1. unique output names


def test_coco_same_names_in_two_folders_keep_every_image_and_box(tmp_path):
    for name in ("a/x.jpg", "b/x.jpg", "a__x.jpg", "y.jpg", "y.png"):
        _image(tmp_path / "imgs" / name)
    names = ["a/x.jpg", "b/x.jpg", "a__x.jpg", "y.jpg", "y.png"]
    images = [{"id": i, "file_name": n} for i, n in enumerate(names)]
    annotations = [_ann(10, 0, [1, 1, 10, 10]), _ann(11, 0, [20, 5, 10, 10]), _ann(12, 1, [5, 5, 10, 10])]
    annotations += [_ann(13 + i, i, [2, 2, 8, 8]) for i in (2, 3, 4)]
    ann = _write_coco(tmp_path / "ann.json", images, annotations)
    report = convert_coco(ann, tmp_path / "imgs", tmp_path / "out", split="train")
    _assert_counts_match_disk(report, tmp_path / "out")
    assert dict(report.images) == {"train": 5} and sum(report.boxes_written.values()) == 6
    on_disk = sorted(p.name for p in (tmp_path / "out" / "images" / "train").iterdir())
    assert on_disk == ["a__x.jpg", "a__x~2.jpg", "b__x.jpg", "y.jpg", "y~2.png"]
    assert len((tmp_path / "out" / "labels" / "train" / "a__x.txt").read_text().splitlines()) == 2
    assert len(report.collisions) == 2 and "a__x.jpg" in report.collisions[0] and "y.png" in report.collisions[1]
    assert "2 renamed" in report.text() and "renamed" in (tmp_path / "out" / "conversion.log").read_text()


def test_voc_two_annotations_naming_one_file_are_both_kept(tmp_path):
    src = tmp_path / "voc"
    _image(src / "JPEGImages" / "shared.jpg")
    _voc_xml(src / "Annotations" / "im0.xml", "shared.jpg", [_voc_object()])
    _voc_xml(src / "Annotations" / "im1.xml", "shared.jpg", [_voc_object(), _voc_object(xmin=40, xmax=70)])
    _image_sets(src, train=["im0", "im1"])
    report = convert_voc(src, tmp_path / "out")
    _assert_counts_match_disk(report, tmp_path / "out")
    assert dict(report.images) == {"train": 2} and sum(report.boxes_written.values()) == 3
    assert sorted(_files(tmp_path / "out" / "labels")) == ["train/shared.txt", "train/shared~2.txt"]
    assert len(report.collisions) == 1 and "im1.xml" in report.collisions[0]


# 2. paths never leave the source folder


def test_voc_paths_outside_the_source_are_not_followed(tmp_path):
    src, outside = tmp_path / "data" / "voc", tmp_path / "outside"
    _image(outside / "secret.jpg")
    _voc_xml(outside / "evil.xml", "secret.jpg", [_voc_object()])
    _image(src / "JPEGImages" / "ok.jpg")
    _voc_xml(src / "Annotations" / "ok.xml", "ok.jpg", [_voc_object()])
    _voc_xml(src / "Annotations" / "abs.xml", str(outside / "secret.jpg"), [_voc_object()])
    _voc_xml(src / "Annotations" / "up.xml", "../../../outside/secret.jpg", [_voc_object()])
    _image_sets(src, train=["ok", "abs", "up", "../../../outside/evil", str(outside / "evil")])
    before = _files(tmp_path)
    report = convert_voc(src, tmp_path / "out")
    assert {f for f in _files(tmp_path) - before if not f.startswith("out/")} == set()
    _assert_counts_match_disk(report, tmp_path / "out")
    assert dict(report.images) == {"train": 1} and report.images_dropped == 4
    assert sum("leaves" in d for d in report.dropped) == 4 and "secret" not in " ".join(_files(tmp_path / "out"))


def test_coco_paths_outside_the_images_folder_are_not_followed(tmp_path):
    _image(tmp_path / "outside" / "secret.jpg")
    _image(tmp_path / "imgs" / "ok.jpg")
    names = [
        "ok.jpg",
        str(tmp_path / "outside" / "secret.jpg"),
        "../outside/secret.jpg",
        "sub/../../outside/secret.jpg",
    ]
    ann = _write_coco(
        tmp_path / "ann.json",
        [{"id": i, "file_name": n} for i, n in enumerate(names)],
        [_ann(10 + i, i, [1, 1, 10, 10]) for i in range(4)],
    )
    before = _files(tmp_path)
    report = convert_coco(ann, tmp_path / "imgs", tmp_path / "out", split="val")
    assert {f for f in _files(tmp_path) - before if not f.startswith("out/")} == set()
    _assert_counts_match_disk(report, tmp_path / "out")
    assert dict(report.images) == {"val": 1} and report.images_dropped == 3 and report.boxes_dropped == 3
    assert sum("leaves" in d for d in report.dropped) == 3
    with pytest.raises(UserError, match="split"):
        convert_coco(ann, tmp_path / "imgs", tmp_path / "out2", split="../../escaped")
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "out2").exists()


# 3. every number is checked before it is written


def test_voc_non_finite_non_numeric_and_missing_parts_are_counted_skips(tmp_path):
    src = tmp_path / "voc"
    _image(src / "JPEGImages" / "im0.jpg")
    objects = [
        _voc_object(),
        _voc_object(xmin="nan"),
        _voc_object(xmax="inf"),
        _voc_object(ymin="abc"),
        "<name>dog</name>",  # no <bndbox>
        "<name>dog</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax></bndbox>",  # no <ymax>
        _voc_object(name=""),
    ]
    _voc_xml(src / "Annotations" / "im0.xml", "im0.jpg", objects)
    report = convert_voc(src, tmp_path / "out", seed=0)
    _assert_counts_match_disk(report, tmp_path / "out")
    assert report.names == ["dog"] and report.boxes_read == 7 and report.boxes_dropped == 6
    reasons = "\n".join(report.dropped)
    for k, why in [(1, "not finite"), (2, "not finite"), (3, "not a number"), (4, "no <bndbox>"), (5, "no <ymax>")]:
        assert f"im0.xml object {k} (dog): " in reasons and why in reasons
    assert "im0.xml object 6 (): no <name>" in reasons
    assert "6 dropped" in report.text()


def test_coco_non_finite_and_malformed_boxes_are_counted_skips(tmp_path):
    _image(tmp_path / "imgs" / "a.jpg")
    bboxes = [[1, 1, 10, 10], [float("nan"), 1, 10, 10], [1, 1, float("inf"), 10], [1, 1, 10], [1, "x", 10, 10]]
    bboxes += ["1,1,10,10", [1, 1, True, 10], None]
    annotations = [_ann(10 + k, 1, b) for k, b in enumerate(bboxes)] + [{"id": 30, "image_id": 1, "category_id": 1}]
    ann = _write_coco(tmp_path / "ann.json", [{"id": 1, "file_name": "a.jpg"}], annotations)
    assert "NaN" in ann.read_text() and "Infinity" in ann.read_text()
    report = convert_coco(ann, tmp_path / "imgs", tmp_path / "out", split="train")
    _assert_counts_match_disk(report, tmp_path / "out")
    assert report.boxes_read == 9 and sum(report.boxes_written.values()) == 1 and report.boxes_dropped == 8
    assert len(report.dropped) == 8 and all(d.startswith("a.jpg annotation ") for d in report.dropped)
    assert "annotation 11: x nan is not finite" in report.dropped[0] and "annotation 30: bbox" in report.dropped[-1]


# 4. malformed COCO JSON: one line naming the file and key, or a counted skip of one entry


@pytest.mark.parametrize(
    "coco, message",
    [
        ({"images": [], "annotations": {"1": {}}, "categories": []}, "'annotations' must be a list"),
        ({"images": {}, "categories": []}, "'images' must be a list"),
        ({"images": []}, "'categories' must be a list"),
        ([], "top level"),
        ({"images": [], "categories": [{"id": 1}]}, r"categories\[0\] .*'name'"),
        ({"images": [], "categories": [{"name": "dog"}]}, r"categories\[0\] .*'id'"),
        ({"images": [], "categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}, "category id 1"),
        ({"images": [{"id": 1, "file_name": "a"}, {"id": 1, "file_name": "b"}], "categories": []}, "image id 1"),
    ],
)
def test_coco_structural_problems_are_one_line_errors(tmp_path, capsys, coco, message):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    with pytest.raises(UserError, match=message) as error:
        convert_coco(tmp_path / "ann.json", tmp_path / "imgs", tmp_path / "out")
    assert str(error.value).startswith(str(tmp_path / "ann.json")) and "\n" not in str(error.value)
    assert main(["coco", str(tmp_path / "ann.json"), str(tmp_path / "imgs"), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_coco_bad_entries_are_counted_skips(tmp_path):
    _image(tmp_path / "imgs" / "a.jpg")
    images = [
        {"id": 1, "file_name": "a.jpg"},
        {"id": 2},
        {"file_name": "a.jpg"},
        "not an object",
        {"id": 3, "file_name": 7},
    ]
    annotations = [
        _ann(10, 1, [1, 1, 10, 10]),
        _ann(11, 2, [1, 1, 10, 10]),  # its image has no file_name
        {"id": 12, "category_id": 1, "bbox": [1, 1, 10, 10]},  # no image_id
        _ann(13, 99, [1, 1, 10, 10]),  # image_id not in images
        _ann(14, [1], [1, 1, 10, 10]),  # unusable image_id
        _ann(15, 1, [1, 1, 10, 10], category_id=[1]),  # unusable category_id
        "not an object",
    ]
    ann = _write_coco(tmp_path / "ann.json", images, annotations)
    report = convert_coco(ann, tmp_path / "imgs", tmp_path / "out")  # seeded split, ids as given
    _assert_counts_match_disk(report, tmp_path / "out")
    assert sum(report.images.values()) == 1 and report.images_dropped == 4
    assert report.boxes_read == 7 and sum(report.boxes_written.values()) == 1 and report.boxes_dropped == 6
    dropped = "\n".join(report.dropped)
    for part in ("image id 2", "images[2]", "images[3]", "image id 3", "annotations[2]", "annotations[3]"):
        assert part in dropped
    assert "annotations[4]" in dropped and "annotations[6]" in dropped and "unknown category_id [1]" in dropped
