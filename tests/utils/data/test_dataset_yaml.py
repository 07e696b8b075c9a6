import logging
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

from utils.data import dataset_yaml
from utils.data.dataset_yaml import check_dataset
from utils.errors import UserError

DATA = Path(__file__).resolve().parents[3] / "data"


def write_yaml(yaml_file, **data):
    yaml_file.write_text(yaml.safe_dump(data, sort_keys=False))
    return yaml_file


def test_resolves_paths_and_names(shapes_root, tmp_path):
    cfg = write_yaml(
        tmp_path / "d.yaml",
        path=str(shapes_root),
        train="images/train",
        val=["images/val"],
        names={0: "circle", 1: "rectangle", 2: "triangle"},
        nc=3,
    )
    data = check_dataset(cfg)
    assert data["names"] == ["circle", "rectangle", "triangle"] and data["nc"] == 3
    assert data["train"] == [shapes_root / "images" / "train"] and data["val"] == [shapes_root / "images" / "val"]
    assert data["test"] is None and data["path"] == shapes_root


def test_relative_path_is_relative_to_the_yaml(shapes_root, tmp_path):
    (tmp_path / "sub").mkdir()
    shutil.copytree(shapes_root, tmp_path / "shapes")
    cfg = write_yaml(
        tmp_path / "sub" / "d.yaml", path="../shapes", train="images/train", val="images/val", names=["a", "b", "c"]
    )
    assert check_dataset(cfg)["val"] == [(tmp_path / "shapes" / "images" / "val").resolve()]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"train": "a", "val": "b", "names": ["x"], "nc": 2}, "nc=2 but 'names' has 1 entries"),
        ({"train": "a", "names": ["x"]}, "missing key 'val'"),
        ({"train": "a", "val": "b", "names": ["x"], "colors": 1}, "unknown key 'colors'"),
        (
            {"train": "a", "val": "b", "names": ["x"], "downlaod": "x.zip"},
            "unknown key 'downlaod'; did you mean 'download'",
        ),
        ({"train": "a", "val": "b", "names": {1: "x"}}, "'names' dict keys must be the class ids 0..0"),
        ({"train": "a", "val": "b"}, "'names' must be a non-empty list"),
        (
            {"train": "images", "val": "nowhere", "names": ["x"]},
            "'val' path .*nowhere does not exist and the YAML has no",
        ),
        ({"train": 3, "val": "b", "names": ["x"]}, "key 'train' must be a path or a list of paths"),
    ],
)
def test_user_mistakes_name_the_yaml_and_key(tmp_path, data, message):
    (tmp_path / "images").mkdir()
    cfg = write_yaml(tmp_path / "bad.yaml", **data)
    with pytest.raises(UserError, match=message) as info:
        check_dataset(cfg)
    assert str(info.value).startswith(str(cfg)) and "\n" not in str(info.value)


def test_shapes_yaml_builds_the_dataset_on_first_use(tmp_path):
    cfg = tmp_path / "data" / "shapes.yaml"
    cfg.parent.mkdir()
    shutil.copy(DATA / "shapes.yaml", cfg)
    data = check_dataset(cfg)
    assert data["path"] == (tmp_path / "datasets" / "shapes").resolve()
    assert len(list(data["train"][0].glob("*.jpg"))) == 128 and len(list(data["val"][0].glob("*.jpg"))) == 32
    assert data["names"] == ["circle", "rectangle", "triangle"]
    with pytest.raises(UserError, match="does not exist"):
        check_dataset(
            write_yaml(tmp_path / "d.yaml", path="x", train="a", val="b", names=["a"], download="shapes"),
            autobuild=False,
        )


def test_download_step_extracts_an_archive(tmp_path):
    with zipfile.ZipFile(tmp_path / "tiny.zip", "w") as zf:
        zf.writestr("tiny/images/train/readme.txt", "x")
        zf.writestr("tiny/images/val/readme.txt", "x")
    cfg = write_yaml(
        tmp_path / "d.yaml",
        path="ds/tiny",
        train="images/train",
        val="images/val",
        names=["a"],
        download=[{"url": (tmp_path / "tiny.zip").as_uri(), "dir": ".."}],
    )
    data = check_dataset(cfg)
    assert data["train"][0].is_dir() and (tmp_path / "ds" / "tiny" / "images" / "val" / "readme.txt").is_file()


def test_offline_download_fails_with_one_clear_line(tmp_path, monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    text = (
        (DATA / "coco128.yaml")
        .read_text()
        .replace(
            "https://github.com/ultralytics/assets/releases/download/v0.0.0/coco128.zip",
            "http://127.0.0.1:9/coco128.zip",
        )
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "coco128.yaml").write_text(text)
    with pytest.raises(
        UserError,
        match=r"coco128.yaml: dataset missing and download of http://127.0.0.1:9/coco128.zip"
        r" failed .*download it on a machine with internet",
    ) as info:
        check_dataset(tmp_path / "data" / "coco128.yaml")
    assert "\n" not in str(info.value)
    # extracted into path's parent (dir: ..), named as the normalised folder, not .../datasets/coco128/..
    assert str(info.value).endswith(f"place it under {(tmp_path / 'datasets').resolve()}")


@pytest.mark.parametrize(("name", "nc", "splits"), [("coco128", 80, 2), ("coco", 80, 3), ("VOC", 20, 3)])
def test_shipped_yamls_parse(name, nc, splits, tmp_path):
    shutil.copy(DATA / f"{name}.yaml", tmp_path / f"{name}.yaml")
    with pytest.raises(UserError, match="does not exist") as info:
        check_dataset(tmp_path / f"{name}.yaml", autobuild=False)
    assert f"{name}.yaml" in str(info.value)
    raw = yaml.safe_load((DATA / f"{name}.yaml").read_text())
    assert len(raw["names"]) == nc and sum(s in raw for s in ("train", "val", "test")) == splits
    assert raw["download"] and all("url" in step or step.get("convert") == "voc" for step in raw["download"])


def yolov5_style_yaml(folder, path="../datasets/x"):
    """A YAML as YOLOv5 ships them: ``path`` relative to where it is run from, not to the YAML."""
    return write_yaml(folder / "x.yaml", path=path, train="images/train", val="images/val", names=["a"])


def make_dataset(root):
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
    return root


def test_yolov5_style_path_is_found_relative_to_the_cwd(tmp_path, monkeypatch, caplog):
    make_dataset(tmp_path / "datasets" / "x")
    (tmp_path / "repo" / "data").mkdir(parents=True)
    cfg = yolov5_style_yaml(tmp_path / "repo" / "data")  # ours: repo/datasets/x, not there
    monkeypatch.chdir(tmp_path / "repo")
    with caplog.at_level(logging.INFO, logger="utils.data.dataset_yaml"):
        data = check_dataset(cfg)
    assert data["path"] == (tmp_path / "datasets" / "x").resolve()
    assert data["val"] == [(tmp_path / "datasets" / "x" / "images" / "val").resolve()]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "found relative to the current directory" in lines[0] and "YOLOv5's rule" in lines[0]


def test_the_repository_root_is_tried_and_ours_comes_first(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(dataset_yaml, "REPO_ROOT", tmp_path / "r" / "repo")
    (tmp_path / "c" / "cwd").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "c" / "cwd")
    (tmp_path / "y" / "cfg").mkdir(parents=True)
    make_dataset(tmp_path / "r" / "datasets" / "x")  # ../datasets/x relative to the repository root only
    with caplog.at_level(logging.INFO, logger="utils.data.dataset_yaml"):
        assert check_dataset(yolov5_style_yaml(tmp_path / "y" / "cfg"))["path"] == tmp_path / "r" / "datasets" / "x"
    assert len(caplog.records) == 1 and "found relative to the repository root" in caplog.text
    caplog.clear()
    make_dataset(tmp_path / "y" / "datasets" / "x")  # now also relative to the YAML file: ours wins, silently
    with caplog.at_level(logging.INFO, logger="utils.data.dataset_yaml"):
        assert check_dataset(yolov5_style_yaml(tmp_path / "y" / "cfg"))["path"] == tmp_path / "y" / "datasets" / "x"
    assert not caplog.records


def test_a_missing_root_lists_every_place_tried(tmp_path, monkeypatch):
    monkeypatch.setattr(dataset_yaml, "REPO_ROOT", tmp_path / "r" / "repo")
    (tmp_path / "c" / "cwd").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "c" / "cwd")
    (tmp_path / "y" / "cfg").mkdir(parents=True)
    with pytest.raises(UserError) as info:
        check_dataset(yolov5_style_yaml(tmp_path / "y" / "cfg"))
    message = str(info.value)
    assert "\n" not in message and "no 'download' step; 'path: ../datasets/x' was looked for at " in message
    rules = (("y", "the YAML file"), ("c", "the current directory"), ("r", "the repository root"))
    places = ", ".join(f"{tmp_path / k / 'datasets' / 'x'} (relative to {rule})" for k, rule in rules)
    assert message.endswith(places)
