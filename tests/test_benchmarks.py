"""The benchmark scripts' bookkeeping (their measurements run by hand, never in tests)."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest


def _load(name: str):
    """Load ``benchmarks/<name>.py`` from its file and register it, so that front.py's ``from int8 import ...``
    finds it while benchmarks/ never joins sys.path for the other tests."""
    spec = importlib.util.spec_from_file_location(
        name, Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


int8 = _load("int8")
front = _load("front")

FIELDS = ("row", "trained", "scores_from", "train_s_per_epoch", "seed", "epochs", "val_map", "test_map",
          "int8_val_map", "int8_test_map", "ov_int8_ms_2t", "pt_ms_2t")  # fmt: skip


def write(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows({field: row.get(field, "") for field in FIELDS} for row in rows)
    return path


def test_merge_takes_accuracy_from_the_lone_run_and_keeps_the_joint_latency(tmp_path):
    joint = {"row": "lcnet100-scratch", "trained": "False", "seed": "0", "epochs": "100", "ov_int8_ms_2t": "6.3",
             "pt_ms_2t": "29.2"}  # fmt: skip
    other = {"row": "yolov5n", "trained": "True", "val_map": "0.51", "ov_int8_ms_2t": "4.1", "pt_ms_2t": "19.7"}
    table = write(tmp_path / "front.csv", [other, joint])
    alone = {"row": "lcnet100-scratch", "trained": "True", "seed": "0", "epochs": "100", "train_s_per_epoch": "21.5",
             "val_map": "0.52", "test_map": "0.5", "int8_val_map": "0.519", "int8_test_map": "0.498",
             "ov_int8_ms_2t": "9.9", "pt_ms_2t": "40.0"}  # fmt: skip
    rows = front.merge([str(write(tmp_path / "lcnet.csv", [alone]))], table)
    with open(table, newline="") as handle:
        assert list(csv.DictReader(handle)) == rows
    merged = rows[1]
    assert [merged[k] for k in ("val_map", "test_map", "int8_val_map", "int8_test_map", "train_s_per_epoch")] == [
        "0.52", "0.5", "0.519", "0.498", "21.5"]  # fmt: skip
    assert (merged["ov_int8_ms_2t"], merged["pt_ms_2t"]) == ("6.3", "29.2")
    assert merged["scores_from"].startswith("lcnet.csv")
    assert rows[0] == {field: other.get(field, "") for field in FIELDS}
    front.plot(rows, 2, tmp_path / "front.png")
    assert (tmp_path / "front.png").stat().st_size > 0


@pytest.mark.parametrize(
    "row, message",
    [
        ({"row": "lcnet100-scratch", "trained": "False"}, "not trained"),
        ({"row": "nowhere", "trained": "True", "val_map": "0.5"}, "not in"),
        ({"row": "lcnet100-scratch", "trained": "True", "val_map": "0.5", "seed": "1"}, "seed 1"),
    ],
)
def test_merge_refuses_untrained_unknown_or_other_seed_rows(tmp_path, row, message):
    table = write(tmp_path / "front.csv", [{"row": "lcnet100-scratch", "trained": "False", "seed": "0"}])
    before = table.read_text()
    with pytest.raises(SystemExit, match=message):
        front.merge([str(write(tmp_path / "lone.csv", [row]))], table)
    assert table.read_text() == before


def test_write_csv_leaves_the_old_table_whole_when_writing_fails(tmp_path):
    table = write(tmp_path / "table.csv", [{"row": "yolov5s", "val_map": "0.543"}])
    before = table.read_bytes()
    with pytest.raises(ValueError):  # a record with a column the header lacks stops csv.DictWriter midway
        int8.write_csv([{"row": "yolov5n"}, {"row": "x", "unknown": 1}], ["row"], table)
    assert table.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["table.csv"]
    int8.write_csv([{"row": "yolov5n"}], ["row"], table)
    assert table.read_text().splitlines() == ["row", "yolov5n"]


def test_the_recipe_row_is_the_shipped_lite0_config_plus_its_backbone_recipe(tmp_path):
    import yaml

    shipped = yaml.safe_load((Path(front.ROOT) / "configs/models/yolov5s-efficientnet-lite0.yaml").read_text())
    variant = yaml.safe_load(Path(front.row_config("lite0-pretrained-recipe", tmp_path)).read_text())
    assert variant.pop("backbone_recipe") == {"lr_multiplier": 0.1, "frozen_epochs": 3}
    assert variant == shipped


def test_another_seed_is_plotted_at_its_rows_joint_latency_and_an_unknown_row_is_refused(tmp_path):
    table = [{"row": "yolov5s", "val_map": "0.543", "ov_int8_ms_2t": "9.0", "pt_ms_2t": "40.3"}]
    lone = {"row": "yolov5s", "trained": "True", "seed": "1", "val_map": "0.565", "int8_val_map": "0.548",
            "ov_int8_ms_2t": "8.5", "pt_ms_2t": "38.5"}  # fmt: skip
    seed = write(tmp_path / "seed1.csv", [lone])
    assert front.seed_points(table, [str(seed)], 2) == [(9.0, 0.548, 40.3, 0.565)]
    front.plot(table, 2, tmp_path / "front.png", [str(seed)])
    assert (tmp_path / "front.png").stat().st_size > 0
    other = write(tmp_path / "other.csv", [{"row": "yolov5n", "trained": "True", "val_map": "0.51"}])
    with pytest.raises(SystemExit, match="yolov5n"):
        front.seed_points(table, [str(other)], 2)


def test_merge_adds_a_score_the_table_is_older_than_and_an_older_lone_run_keeps_it(tmp_path):
    table = write(tmp_path / "front.csv", [{"row": "yolov5n", "trained": "False", "seed": "2"},
                                           {"row": "lite1-pretrained", "trained": "False", "seed": "0"}])  # fmt: skip
    new = {"row": "lite1-pretrained", "trained": "True", "seed": "0", "val_map": "0.5635", "ov_val_map": "0.551",
           "ov_test_map": "0.5408"}  # fmt: skip
    with open(tmp_path / "new.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(new))
        writer.writeheader()
        writer.writerow(new)
    front.merge([str(tmp_path / "new.csv")], table)
    old = write(tmp_path / "old.csv", [{"row": "lite1-pretrained", "trained": "True", "seed": "0", "val_map": "0.56"}])
    rows = front.merge([str(old)], table)
    with open(table, newline="") as handle:
        assert list(csv.DictReader(handle)) == rows
    assert list(rows[0])[-2:] == ["ov_val_map", "ov_test_map"]
    assert (rows[0]["ov_val_map"], rows[1]["ov_val_map"], rows[1]["ov_test_map"]) == ("", "0.551", "0.5408")
    assert rows[1]["val_map"] == "0.56"


def test_accuracy_scores_each_runtime_on_both_splits_in_runs_of_their_own(tmp_path, monkeypatch):
    calls = []

    def fake_score(weights, data_yaml, split, work, name):
        calls.append((weights, split, name))
        return 0.9, len(calls) / 10

    monkeypatch.setitem(sys.modules, "bccd_vs_yolov5", SimpleNamespace(score=fake_score))  # front imports it by name
    files = {runtime: tmp_path / runtime for runtime in front.RUNTIMES}
    scores = front.accuracy("lite1-pretrained", files, tmp_path / "data.yaml", tmp_path)
    assert scores == {"val_map": 0.1, "test_map": 0.2, "ov_val_map": 0.3, "ov_test_map": 0.4, "int8_val_map": 0.5,
                      "int8_test_map": 0.6}  # fmt: skip
    assert [weights.name for weights, _, _ in calls] == [runtime for runtime in front.RUNTIMES for _ in "vt"]
    assert len({(name, split) for _, split, name in calls}) == 6


def test_labels_of_points_close_together_are_moved_apart():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(4, 3))
    axes.set_xlim(0, 10)
    axes.set_ylim(0, 10)
    points = [(5, 5), (5.1, 5.1), (4.9, 4.95)]
    labels = [axes.annotate(f"row-{i}-pretrained", xy, xytext=(5, 4), textcoords="offset points", fontsize=8)
              for i, xy in enumerate(points)]  # fmt: skip
    front.place_labels(figure, axes, labels)
    renderer = figure.canvas.get_renderer()
    boxes = [label.get_window_extent(renderer) for label in labels]
    plt.close(figure)
    assert not any(boxes[i].overlaps(boxes[j]) for i in range(3) for j in range(i + 1, 3))
