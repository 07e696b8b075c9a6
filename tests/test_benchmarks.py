"""The benchmark scripts' bookkeeping (their measurements run by hand, never in tests)."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

# loaded from its file, so that benchmarks/ never joins sys.path for the other tests
_SPEC = importlib.util.spec_from_file_location("front", Path(__file__).resolve().parents[1] / "benchmarks" / "front.py")
front = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(front)

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
