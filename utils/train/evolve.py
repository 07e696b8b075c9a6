"""Hyperparameter evolution (``train.py --evolve N``), YOLOv5's genetic search over the hyp YAML's values.

Generation 0 trains the ``--hyp`` file as given; each later one picks a parent among the best rows so far
(:func:`select_parent`), perturbs it (:func:`mutate`), trains it with ``--noval --nosave`` semantics (only the final
epoch is validated) in a temporary folder, and appends a row to ``evolve.csv``. The evolve folder (``--project`` /
``--name``) then holds only::

    evolve.csv        one row per generation: P, R, mAP50, mAP50-95, val losses, then the hyp values
    hyp_evolve.yaml   the best row's hyperparameters, a complete hyp file for --hyp
    evolve.png        one scatter per evolved key: value against fitness (0.1 mAP50 + 0.9 mAP50-95)

Resuming: rerun the same command with ``--exist-ok``: an evolve folder that already holds ``evolve.csv`` continues
from its last row up to N rows. Without ``--exist-ok`` a new folder (``exp2``, ...) starts from scratch. Generation
``g`` draws from a generator seeded with ``(--seed, g)``, so a resumed search makes the choices an uninterrupted one
would have made.
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml

from utils.bounds import check_number
from utils.errors import UserError
from utils.hyp import load_hyp
from utils.run_dir import increment_path
from utils.train.options import TrainOptions
from utils.train.results import read_rows

LOGGER = logging.getLogger(__name__)

# key: (mutation scale, lower bound, upper bound); a scale of 0 keeps the key fixed (YOLOv5's table)
MUTATION_SPACE: dict[str, tuple[float, float, float]] = {
    "lr0": (1, 1e-5, 1e-1),
    "lrf": (1, 0.01, 1.0),
    "momentum": (0.3, 0.6, 0.98),
    "weight_decay": (1, 0.0, 0.001),
    "warmup_epochs": (1, 0.0, 5.0),
    "warmup_momentum": (1, 0.0, 0.95),
    "warmup_bias_lr": (1, 0.0, 0.2),
    "box": (1, 0.02, 0.2),
    "cls": (1, 0.2, 4.0),
    "cls_pw": (1, 0.5, 2.0),
    "obj": (1, 0.2, 4.0),
    "obj_pw": (1, 0.5, 2.0),
    "iou_t": (0, 0.1, 0.7),
    "anchor_t": (1, 2.0, 8.0),
    "fl_gamma": (0, 0.0, 2.0),
    "hsv_h": (1, 0.0, 0.1),
    "hsv_s": (1, 0.0, 0.9),
    "hsv_v": (1, 0.0, 0.9),
    "degrees": (1, 0.0, 45.0),
    "translate": (1, 0.0, 0.9),
    "scale": (1, 0.0, 0.9),
    "shear": (1, 0.0, 10.0),
    "perspective": (0, 0.0, 0.001),
    "flipud": (1, 0.0, 1.0),
    "fliplr": (0, 0.0, 1.0),
    "mosaic": (1, 0.0, 1.0),
    "mixup": (1, 0.0, 1.0),
    "copy_paste": (1, 0.0, 1.0),
}
METRIC_COLUMNS = [
    "metrics/precision",
    "metrics/recall",
    "metrics/mAP_0.5",
    "metrics/mAP_0.5:0.95",
    "val/box_loss",
    "val/obj_loss",
    "val/cls_loss",
]  # the final epoch's columns of results.csv, YOLOv5's names
MUTATION_PROBABILITY, MUTATION_SIGMA = 0.8, 0.2
MULTIPLIER_RANGE = (0.3, 3.0)
PARENTS = 5  # a parent is drawn from the best this many rows
MAX_MUTATION_TRIES = 1000  # a hyp whose every mutable value is 0 cannot change (the mutation multiplies)
SIGNIFICANT_DIGITS = 5


def fitness(row: dict[str, float]) -> float:
    """0.1 mAP@0.5 + 0.9 mAP@0.5:0.95, the score best.pt is picked by."""
    return 0.1 * row["metrics/mAP_0.5"] + 0.9 * row["metrics/mAP_0.5:0.95"]


def evolvable_space(hyp: dict[str, float]) -> dict[str, tuple[float, float, float]]:
    """The mutation table restricted to the keys ``hyp`` holds, in the table's order."""
    return {key: limits for key, limits in MUTATION_SPACE.items() if key in hyp}


def clip_to_bounds(hyp: dict[str, float], space: dict[str, tuple[float, float, float]]) -> dict[str, float]:
    """``hyp`` with each key of ``space`` clipped to its bounds and rounded to 5 significant digits (readable rows)."""
    clipped = dict(hyp)
    for key, (_, low, high) in space.items():
        clipped[key] = float(f"{min(max(float(hyp[key]), low), high):.{SIGNIFICANT_DIGITS}g}")
    return clipped


def mutate(
    parent: dict[str, float],
    space: dict[str, tuple[float, float, float]],
    rng: np.random.Generator,
    probability: float = MUTATION_PROBABILITY,
    sigma: float = MUTATION_SIGMA,
) -> dict[str, float]:
    """A child of ``parent``: each key of ``space`` is multiplied by ``(scale * hit * randn * u * sigma + 1)``
    clipped to 0.3..3, where ``hit`` is 1 with ``probability`` per key and ``u`` one uniform draw per try, then
    clipped to the key's bounds. Tries again until some value differs from the parent's (YOLOv5's rule)."""
    keys = list(space)
    scales = np.array([space[k][0] for k in keys], dtype=float)
    values = np.array([parent[k] for k in keys], dtype=float)
    for _ in range(MAX_MUTATION_TRIES):
        hits = rng.random(len(keys)) < probability
        multipliers = (scales * hits * rng.standard_normal(len(keys)) * rng.random() * sigma + 1).clip(
            *MULTIPLIER_RANGE
        )
        child = clip_to_bounds({**parent, **dict(zip(keys, (values * multipliers).tolist()))}, space)
        if any(child[k] != parent[k] for k in keys):
            return child
    raise UserError("--evolve: no hyperparameter can change (every mutable value is 0 or pinned at a bound)")


def parent_weights(fitnesses: list[float], top: int = PARENTS) -> tuple[np.ndarray, np.ndarray]:
    """(row indices, probabilities) of the candidate parents: the best ``min(top, rows)`` rows, weighted by
    ``fitness - min + 1e-6`` over those rows, so the worst candidate is nearly never picked."""
    scores = np.asarray(fitnesses, dtype=float)
    best = np.argsort(-scores, kind="stable")[: min(top, len(scores))]
    weights = scores[best] - scores[best].min() + 1e-6
    return best, weights / weights.sum()


def select_parent(rows: list[dict[str, float]], rng: np.random.Generator, top: int = PARENTS) -> dict[str, float]:
    """One of the best rows, drawn with :func:`parent_weights` (YOLOv5's 'single' selection)."""
    if not rows:
        raise ValueError("select_parent needs at least one row")
    indices, probabilities = parent_weights([fitness(row) for row in rows], top)
    return rows[int(rng.choice(indices, p=probabilities))]


def read_evolve_csv(path: Path, hyp_keys: list[str]) -> list[dict[str, float]]:
    """The rows of ``evolve.csv`` ([] when there is none); a file with other columns is refused, not mixed."""
    if not path.exists():
        return []
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        expected = METRIC_COLUMNS + hyp_keys
        if reader.fieldnames != expected:
            raise UserError(f"{path}: its columns are not those of this --hyp file; use another --name to start anew")
        return [{k: float(v) for k, v in row.items()} for row in reader]


def append_evolve_row(path: Path, metrics: dict[str, float], hyp: dict[str, float], hyp_keys: list[str]) -> None:
    """Append one generation's row, writing the header first for a new file."""
    new = not path.exists()
    with open(path, "a", newline="") as file:
        writer = csv.writer(file)
        if new:
            writer.writerow(METRIC_COLUMNS + hyp_keys)
        writer.writerow([f"{metrics[c]:.5g}" for c in METRIC_COLUMNS] + [f"{hyp[k]:.5g}" for k in hyp_keys])


def write_best_hyp(rows: list[dict[str, float]], base_hyp: dict[str, float], path: Path) -> dict[str, float]:
    """Write ``hyp_evolve.yaml``: ``base_hyp`` with the best row's values (a complete file ``load_hyp`` reads)."""
    best = max(rows, key=fitness)
    hyp = {key: best.get(key, value) for key, value in base_hyp.items()}
    header = (
        f"# Best of {len(rows)} generations of train.py --evolve: fitness {fitness(best):.5f} "
        f"(P {best['metrics/precision']:.4f}, R {best['metrics/recall']:.4f}, "
        f"mAP50 {best['metrics/mAP_0.5']:.4f}, mAP50-95 {best['metrics/mAP_0.5:0.95']:.4f})\n"
    )
    path.write_text(header + yaml.safe_dump(hyp, sort_keys=False))
    return hyp


def plot_evolve(rows: list[dict[str, float]], hyp_keys: list[str], path: Path) -> Path:
    """``evolve.png``: per key, each generation's value against its fitness; the best one is a large cross."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    scores = np.array([fitness(row) for row in rows])
    best = int(scores.argmax())
    columns = 6
    figure = Figure(figsize=(3 * columns, 2.6 * -(-len(hyp_keys) // columns)), tight_layout=True)
    FigureCanvasAgg(figure)
    for index, key in enumerate(hyp_keys):
        axis = figure.add_subplot(-(-len(hyp_keys) // columns), columns, index + 1)
        values = np.array([row[key] for row in rows])
        axis.scatter(values, scores, c=scores, cmap="viridis", s=12, alpha=0.8, edgecolors="none")
        axis.plot(values[best], scores[best], "k+", markersize=12)
        axis.set_title(f"{key} = {values[best]:.3g}", fontsize=9)
        axis.tick_params(labelsize=7)
    figure.savefig(path, dpi=100)
    return path


def save_summary(rows: list[dict[str, float]], base_hyp: dict[str, float], keys: list[str], save_dir: Path) -> None:
    """Rewrite ``hyp_evolve.yaml`` and ``evolve.png`` from every row so far (after each generation: resumable)."""
    write_best_hyp(rows, base_hyp, save_dir / "hyp_evolve.yaml")
    plot_evolve(rows, keys, save_dir / "evolve.png")


def next_hyp(
    rows: list[dict[str, float]], base_hyp: dict[str, float], space: dict[str, tuple[float, float, float]],
    rng: np.random.Generator,
) -> dict[str, float]:  # fmt: skip
    """The hyp a generation trains: ``base_hyp`` clipped to the bounds for the first, else a mutated parent; keys
    outside ``space`` (``anchors``, ``label_smoothing``) keep their ``base_hyp`` values."""
    hyp = mutate(select_parent(rows, rng), space, rng) if rows else clip_to_bounds(base_hyp, space)
    return {key: hyp.get(key, value) for key, value in base_hyp.items()}


def train_generation(options: TrainOptions, hyp: dict[str, float]) -> dict[str, float]:
    """Train ``options`` with ``hyp``, validating only the final epoch and saving only the final checkpoint, in a
    temporary folder removed afterwards; returns that epoch's results.csv row (P, R, mAPs, val losses, ...)."""
    from utils.train.trainer import Trainer  # imported here: the mutation helpers stay light

    with tempfile.TemporaryDirectory(prefix="evolve_") as folder:
        hyp_path = Path(folder) / "hyp.yaml"
        hyp_path.write_text(yaml.safe_dump(hyp, sort_keys=False))
        run = replace(options, hyp=str(hyp_path), noval=True, nosave=True, noplots=True, project=folder, name="run",
                      exist_ok=True, evolve=None, save_dir="")  # fmt: skip
        Trainer(run).fit()
        return read_rows(Path(folder) / "run" / "results.csv")[-1]


def evolve(options: TrainOptions, generations: int) -> dict[str, float]:
    """Run the search until ``evolve.csv`` holds ``generations`` rows; return the best row (metrics and hyp)."""
    check_number("--evolve", generations, 1, integer=True)
    if options.resume:
        raise UserError("--evolve does not take --resume: rerun with the same --project/--name and --exist-ok")
    if int(os.environ.get("WORLD_SIZE", 1)) > 1:
        raise UserError("--evolve runs in one process, as YOLOv5's does: start it with python, not torchrun")
    base_hyp = load_hyp(options.hyp)
    space = evolvable_space(base_hyp)
    keys = list(space)
    save_dir = increment_path(Path(options.project) / options.name, options.exist_ok)
    csv_path = save_dir / "evolve.csv"
    rows = read_evolve_csv(csv_path, keys)
    first = len(rows)
    if rows:
        LOGGER.info("Evolve: continuing %s from %d of %d generations", csv_path, len(rows), generations)
    for generation in range(first, generations):
        LOGGER.info("Evolve: generation %d/%d", generation + 1, generations)
        hyp = next_hyp(rows, base_hyp, space, np.random.default_rng([options.seed, generation]))
        metrics = train_generation(options, hyp)
        save_dir.mkdir(parents=True, exist_ok=True)  # only now: a run that fails to start leaves no folder behind
        append_evolve_row(csv_path, metrics, hyp, keys)
        rows = read_evolve_csv(csv_path, keys)
        save_summary(rows, base_hyp, keys, save_dir)  # after every generation: a stopped search keeps its best
        LOGGER.info("Evolve: generation %d fitness %.5f, best %.5f", generation + 1, fitness(rows[-1]),
                    max(map(fitness, rows)))  # fmt: skip
    if first >= generations:  # nothing left to run: refresh the summary from the rows there are
        save_summary(rows, base_hyp, keys, save_dir)
    LOGGER.info("Evolve: %d generations in %s; best hyperparameters in %s", len(rows), csv_path,
                save_dir / "hyp_evolve.yaml")  # fmt: skip
    return max(rows, key=fitness)
