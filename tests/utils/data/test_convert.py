import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from tests.helpers import yolov5_reference
from utils.data.convert import convert_coco, convert_voc, main, seeded_split
from utils.data.dataset_files import list_images
from utils.data.dataset_yaml import check_dataset
from utils.data.label_scan import parse_label_file, scan_labels
from utils.errors import UserError

VOC_OBJECT = (
    "<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
    "<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
)


def make_voc(root, boxes_per_image, with_splits=False):
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    for i, boxes in enumerate(boxes_per_image):
        cv2.imwrite(str(root / "JPEGImages" / f"im{i}.jpg"), np.full((100, 200, 3), 90, np.uint8))
        objects = "".join(VOC_OBJECT.format(name=n, x1=a, y1=b, x2=c, y2=d) for n, (a, b, c, d) in boxes)
        (root / "Annotations" / f"im{i}.xml").write_text(
            f"<annotation><filename>im{i}.jpg</filename><size><width>200</width><height>100</height></size>"
            f"{objects}</annotation>"
        )
    if with_splits:
        (root / "ImageSets" / "Main").mkdir(parents=True)
        (root / "ImageSets" / "Main" / "train.txt").write_text("im0\nim1\n")
        (root / "ImageSets" / "Main" / "val.txt").write_text("im2\n")
        (root / "ImageSets" / "Main" / "test.txt").write_text("im3\n")


def test_voc_fixes_drops_and_trims(tmp_path):
    boxes = [
        [(" dog\n", (10, 10, 110, 60)), ("cat", (150, 50, 230, 120))],  # cat leaves the image: clipped
        [("cat", (20, 20, 20, 40))],  # zero width: dropped
        [("dog", (0, 0, 200, 100))],
        [("cat", (5, 5, 50, 50))],
    ]
    make_voc(tmp_path / "voc", boxes, with_splits=True)
    report = convert_voc(tmp_path / "voc", tmp_path / "out")
    assert report.names == ["cat", "dog"] and dict(report.images) == {"train": 2, "val": 1, "test": 1}
    assert report.boxes_read == 5 and dict(report.boxes_written) == {"dog": 2, "cat": 2}
    assert len(report.fixed) == 1 and "im0.xml object 1 (cat)" in report.fixed[0]
    assert len(report.dropped) == 1 and "im1.xml" in report.dropped[0] and "no area" in report.dropped[0]
    labels = parse_label_file(tmp_path / "out" / "labels" / "train" / "im0.txt").labels
    assert np.allclose(labels, [[1, 0.3, 0.35, 0.5, 0.5], [0, 0.875, 0.75, 0.25, 0.5]])
    data = check_dataset(tmp_path / "out" / "data.yaml")
    assert data["names"] == ["cat", "dog"] and data["test"] == [(tmp_path / "out" / "images" / "test").resolve()]
    assert "fixed" in (tmp_path / "out" / "conversion.log").read_text()


def test_voc_without_imagesets_uses_a_seeded_split(tmp_path):
    make_voc(tmp_path / "voc", [[("a", (1, 1, 50, 50))]] * 10)
    report = convert_voc(tmp_path / "voc", tmp_path / "out", seed=3)
    assert dict(report.images) == {"train": 8, "val": 2}
    assert seeded_split([f"im{i}" for i in range(10)], 3) == seeded_split([f"im{i}" for i in range(10)][::-1], 3)
    val = sorted(p.name for p in (tmp_path / "out" / "images" / "val").iterdir())
    assert val == sorted(f"{k}.jpg" for k, s in seeded_split([f"im{i}" for i in range(10)], 3).items() if s == "val")


def test_voc_fixed_names_and_errors(tmp_path):
    make_voc(tmp_path / "voc", [[("dog", (1, 1, 50, 50)), ("horse", (60, 1, 90, 50))]])
    report = convert_voc(tmp_path / "voc", tmp_path / "out", names=["person", "dog"])
    assert "class not in names" in report.dropped[0]
    assert parse_label_file(tmp_path / "out" / "labels" / "train" / "im0.txt").labels[:, 0].tolist() == [1.0]
    with pytest.raises(UserError, match="not a VOC folder"):
        convert_voc(tmp_path / "nothing", tmp_path / "out2")


def test_coco_json(tmp_path):
    (tmp_path / "imgs").mkdir()
    for name in ("a.jpg", "b.jpg"):
        cv2.imwrite(str(tmp_path / "imgs" / name), np.full((100, 200, 3), 90, np.uint8))
    coco = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 200, "height": 100},
            {"id": 2, "file_name": "b.jpg", "width": 200, "height": 100},
            {"id": 3, "file_name": "missing.jpg", "width": 200, "height": 100},
        ],
        "categories": [{"id": 18, "name": "dog "}, {"id": 1, "name": "person"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 18, "bbox": [20, 10, 40, 20], "iscrowd": 0},
            {"id": 11, "image_id": 1, "category_id": 1, "bbox": [180, 80, 40, 40], "iscrowd": 0},
            {"id": 12, "image_id": 2, "category_id": 1, "bbox": [0, 0, 50, 50], "iscrowd": 1},
            {"id": 13, "image_id": 3, "category_id": 1, "bbox": [0, 0, 50, 50], "iscrowd": 0},
        ],
    }
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    report = convert_coco(tmp_path / "ann.json", tmp_path / "imgs", tmp_path / "out", split="val")
    assert report.names == ["person", "dog"] and dict(report.images) == {"val": 2}
    assert report.boxes_read == 4 and dict(report.boxes_written) == {"dog": 1, "person": 1}
    assert len(report.fixed) == 1 and any("crowd" in d for d in report.dropped)
    assert any("missing or unreadable" in d for d in report.dropped)
    labels = parse_label_file(tmp_path / "out" / "labels" / "val" / "a.txt").labels
    assert np.allclose(labels, [[1, 0.2, 0.2, 0.2, 0.2], [0, 0.95, 0.9, 0.1, 0.2]])
    assert (tmp_path / "out" / "labels" / "val" / "b.txt").read_text() == ""
    with pytest.raises(UserError, match="not a COCO detection JSON"):
        convert_coco(tmp_path / "imgs" / "a.jpg", tmp_path / "imgs", tmp_path / "out")


def test_cli(tmp_path, capsys):
    assert main(["synthetic", str(tmp_path / "shapes")]) == 0
    assert (tmp_path / "shapes" / "data.yaml").is_file()
    make_voc(tmp_path / "voc", [[("a", (1, 1, 50, 50))]] * 5)
    assert main(["voc", str(tmp_path / "voc"), str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "boxes: 5 read, 5 written" in out and "per class: a 5" in out
    assert main(["voc", str(tmp_path / "nope"), str(tmp_path / "out2")]) == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_bccd(bccd_yolo):
    out, report = bccd_yolo
    assert dict(report.images) == {"train": 205, "val": 87, "test": 72}
    assert report.boxes_read == 4888 and report.names == ["Platelets", "RBC", "WBC"]
    assert sum(report.boxes_written.values()) + len(report.dropped) == 4888
    assert len(report.dropped) == 2 and all("no area" in d for d in report.dropped)  # the 2 zero-size RBC boxes
    data = check_dataset(out / "data.yaml")
    assert data["nc"] == 3 and data["names"] == ["Platelets", "RBC", "WBC"]
    totals = {}
    for split in ("train", "val", "test"):
        scan = scan_labels(list_images(data[split]), num_classes=3)
        assert scan.counts["corrupt"] == 0 and scan.counts["missing"] == 0
        totals[split] = len(scan.images)
    assert totals == {"train": 205, "val": 87, "test": 72}


def test_a_folder_above_a_voc_root_suggests_it(tmp_path, capsys):
    make_voc(tmp_path / "VOCdevkit" / "VOC2007", [[("a", (1, 1, 50, 50))]])
    (tmp_path / "VOCdevkit" / "notes").mkdir()
    expected = f"{tmp_path / 'VOCdevkit'}: not a VOC folder (expected Annotations/ and JPEGImages/); did you mean "
    with pytest.raises(UserError) as info:
        convert_voc(tmp_path / "VOCdevkit", tmp_path / "out")
    assert str(info.value) == expected + f"{tmp_path / 'VOCdevkit' / 'VOC2007'}?"
    assert main(["voc", str(tmp_path / "VOCdevkit"), str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err == f"error: {expected}{tmp_path / 'VOCdevkit' / 'VOC2007'}?\n"
    make_voc(tmp_path / "VOCdevkit" / "VOC2012", [[("a", (1, 1, 50, 50))]])
    with pytest.raises(UserError, match="did you mean one of .*VOC2007, .*VOC2012\\?$"):
        convert_voc(tmp_path / "VOCdevkit", tmp_path / "out")
    with pytest.raises(UserError, match=r"JPEGImages/\)$"):  # nothing below to suggest
        convert_voc(tmp_path / "VOCdevkit" / "notes", tmp_path / "out")


def test_data_yaml_has_an_absolute_path(tmp_path):
    make_voc(tmp_path / "voc", [[("a", (1, 1, 50, 50))]] * 5)
    convert_voc(tmp_path / "voc", tmp_path / "out")
    assert yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())["path"] == str((tmp_path / "out").resolve())


@pytest.mark.slow
def test_yolov5_reads_a_converted_data_yaml_as_we_do(tmp_path):
    """The ``yolov5`` package's own ``check_dataset``, run from another folder, finds the splits we find."""
    make_voc(tmp_path / "voc", [[("a", (1, 1, 50, 50))]] * 4, with_splits=True)
    convert_voc(tmp_path / "voc", tmp_path / "out")
    ours = check_dataset(tmp_path / "out" / "data.yaml")
    python, env = yolov5_reference(tmp_path, "the data.yaml check against yolov5's check_dataset")
    script = (
        "import json, sys\nfrom yolov5.utils.general import check_dataset\n"
        "data = check_dataset(sys.argv[1], autodownload=False)\n"
        "print(json.dumps({k: data[k] for k in ('train', 'val', 'test', 'names')}))\n"
    )
    (tmp_path / "elsewhere").mkdir()
    result = subprocess.run([str(python), "-c", script, str(tmp_path / "out" / "data.yaml")], env=env,
                            cwd=tmp_path / "elsewhere", capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    theirs = json.loads(result.stdout.strip().splitlines()[-1])
    for split in ("train", "val", "test"):
        assert [Path(theirs[split])] == ours[split]
    assert theirs["names"] == {"0": "a"}
