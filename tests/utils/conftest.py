"""Fixtures for the data-pipeline tests: small datasets written to pytest's temporary folders."""

from __future__ import annotations

from pathlib import Path

import pytest

BCCD = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "bccd" / "BCCD"


@pytest.fixture(scope="session")
def shapes_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in shapes dataset (128 train / 32 val), built once per test session."""
    from utils.synthetic import build_shapes

    return build_shapes(tmp_path_factory.mktemp("data") / "shapes")


@pytest.fixture(scope="session")
def bccd_yolo(tmp_path_factory: pytest.TempPathFactory):
    """BCCD converted to YOLO layout, with the conversion report; skipped when ../shared is absent."""
    if not (BCCD / "Annotations").is_dir():
        pytest.skip(f"BCCD not found at {BCCD}")
    from utils.convert import convert_voc

    out = tmp_path_factory.mktemp("bccd") / "bccd"
    return out, convert_voc(BCCD, out)
