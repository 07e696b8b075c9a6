"""train.py --evolve: mutation, parent selection, evolve.csv and hyp_evolve.yaml; one slow end-to-end run."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import train
from utils.errors import UserError
from utils.hyp import YOLOV7_KEYS, load_hyp
from utils.train.evolve import (
    METRIC_COLUMNS,
    MUTATION_SPACE,
    append_evolve_row,
    evolvable_space,
    fitness,
    mutate,
    parent_weights,
    plot_evolve,
    read_evolve_csv,
    select_parent,
    write_best_hyp,
)

HYP = load_hyp()
SPACE = evolvable_space(HYP)
KEYS = list(SPACE)


def metric_row(map50: float, map50_95: float) -> dict[str, float]:
    return dict.fromkeys(METRIC_COLUMNS, 0.1) | {"metrics/mAP_0.5": map50, "metrics/mAP_0.5:0.95": map50_95}


def in_bounds(hyp: dict[str, float]) -> bool:
    return all(low <= hyp[key] <= high for key, (_, low, high) in SPACE.items())


def test_the_space_covers_every_key_of_the_shipped_hyp_files() -> None:
    for path in Path("configs/hyps").glob("*.yaml"):  # YOLOv7's switches (loss_ota, paste_in) are not evolved
        assert set(load_hyp(path)) - set(YOLOV7_KEYS) <= set(MUTATION_SPACE), path
    assert len(KEYS) == 28 and SPACE["momentum"] == (0.3, 0.6, 0.98)


def test_mutate_stays_in_bounds_and_changes_something() -> None:
    highs = {key: high for key, (_, _, high) in SPACE.items()}  # every key at its upper bound: clipping is exercised
    for seed in range(50):
        for parent in (HYP, highs):
            child = mutate(parent, SPACE, np.random.default_rng(seed))
            assert in_bounds(child) and set(child) == set(parent)
            assert any(child[key] != parent[key] for key in KEYS)
            fixed = [key for key, (scale, _, _) in SPACE.items() if scale == 0]  # iou_t, fl_gamma, perspective, fliplr
            assert all(child[key] == parent[key] for key in fixed)


def test_mutate_is_deterministic_for_a_seed() -> None:
    first, again = (mutate(HYP, SPACE, np.random.default_rng(7)) for _ in range(2))
    assert first == again and first != mutate(HYP, SPACE, np.random.default_rng(8))


def test_mutate_refuses_a_hyp_that_cannot_change() -> None:
    space = {"weight_decay": (1, 0.0, 0.001)}  # 0 times any multiplier is 0
    with pytest.raises(UserError, match="no hyperparameter can change"):
        mutate({"weight_decay": 0.0}, space, np.random.default_rng(0))


def test_parent_weights_hand_computed() -> None:
    # fitnesses 0.1, 0.5, 0.3, 0.2, 0.4, 0.05: the best five are rows 1, 4, 2, 3, 0 and row 5 is never a parent;
    # weights are fitness - 0.1 + 1e-6: 0.4, 0.3, 0.2, 0.1 and 0 (+1e-6 each), summing to 1.000005
    indices, probabilities = parent_weights([0.1, 0.5, 0.3, 0.2, 0.4, 0.05])
    assert indices.tolist() == [1, 4, 2, 3, 0]
    expected = np.array([0.400001, 0.300001, 0.200001, 0.100001, 0.000001]) / 1.000005
    np.testing.assert_allclose(probabilities, expected, rtol=1e-9)
    only, weight = parent_weights([0.3])
    assert only.tolist() == [0] and weight.tolist() == [1.0]


def test_select_parent_draws_by_those_weights() -> None:
    rows = [metric_row(0.0, value / 0.9) | {"id": index} for index, value in enumerate([0.1, 0.5, 0.3, 0.2, 0.4, 0.05])]
    rng = np.random.default_rng(0)
    counts = np.bincount([select_parent(rows, rng)["id"] for _ in range(4000)], minlength=6)
    assert counts[5] == 0 and counts[0] <= 2
    np.testing.assert_allclose(counts[[1, 4, 2, 3]] / 4000, [0.4, 0.3, 0.2, 0.1], atol=0.03)


def test_fitness_weights_map50_and_map() -> None:
    assert fitness(metric_row(0.5, 0.2)) == pytest.approx(0.1 * 0.5 + 0.9 * 0.2)


def test_csv_round_trip_best_hyp_and_plot(tmp_path: Path) -> None:
    path = tmp_path / "evolve.csv"
    assert read_evolve_csv(path, KEYS) == []
    children = [HYP, mutate(HYP, SPACE, np.random.default_rng(1)), mutate(HYP, SPACE, np.random.default_rng(2))]
    for child, score in zip(children, (0.1, 0.3, 0.2)):
        append_evolve_row(path, metric_row(score, score), child, KEYS)
    rows = read_evolve_csv(path, KEYS)
    assert len(rows) == 3 and all(rows[1][key] == pytest.approx(children[1][key], rel=1e-4) for key in KEYS)
    best = write_best_hyp(rows, HYP, tmp_path / "hyp_evolve.yaml")
    assert load_hyp(tmp_path / "hyp_evolve.yaml") == pytest.approx(best)
    assert best["lr0"] == pytest.approx(children[1]["lr0"], rel=1e-4)
    assert plot_evolve(rows, KEYS, tmp_path / "evolve.png").stat().st_size > 0
    with pytest.raises(UserError, match="columns"):
        read_evolve_csv(path, KEYS[:-1])


def test_evolve_flag_checks(capsys: pytest.CaptureFixture) -> None:
    assert train.parse_options(["--evolve"]).evolve == 300
    assert train.parse_options(["--evolve", "4"]).evolve == 4
    assert train.parse_options([]).evolve is None
    with pytest.raises(UserError, match="--evolve 0: expected an integer of at least 1"):
        train.parse_options(["--evolve", "0"])
    with pytest.raises(UserError, match="--resume"):
        train.parse_options(["--evolve", "2", "--resume"])
    with pytest.raises(SystemExit):
        train.parse_options(["--quad"])
    assert "--quad is not supported" in capsys.readouterr().err


@pytest.mark.slow
def test_evolve_three_generations_then_resume(shapes_yaml: Path, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING)  # three trainings' progress output is not needed
    args = ["--data", str(shapes_yaml), "--cfg", "configs/models/yolov5n.yaml", "--epochs", "1", "--imgsz", "64",
            "--batch-size", "16", "--workers", "0", "--device", "cpu", "--noautoanchor", "--seed", "0",
            "--project", str(tmp_path), "--name", "evolve"]  # fmt: skip
    assert train.main([*args, "--evolve", "3"]) == 0
    folder = tmp_path / "evolve"
    assert sorted(p.name for p in folder.iterdir()) == ["evolve.csv", "evolve.png", "hyp_evolve.yaml"]
    rows = read_evolve_csv(folder / "evolve.csv", KEYS)
    assert len(rows) == 3 and all(in_bounds(row) for row in rows)
    assert rows[0]["lr0"] == HYP["lr0"] and rows[1] != rows[0]  # generation 0 trains --hyp as given
    best = load_hyp(folder / "hyp_evolve.yaml")
    assert best["lr0"] == pytest.approx(max(rows, key=fitness)["lr0"])

    assert train.main([*args, "--evolve", "4", "--exist-ok"]) == 0  # continues the same folder to 4 rows
    resumed = read_evolve_csv(folder / "evolve.csv", KEYS)
    assert len(resumed) == 4 and resumed[:3] == rows and in_bounds(resumed[3])
