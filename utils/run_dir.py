"""Run folders that never overwrite an earlier run: ``runs/val/exp``, ``exp2``, ``exp3``, ..."""

from __future__ import annotations

from pathlib import Path


def increment_path(path: str | Path, exist_ok: bool = False, mkdir: bool = False) -> Path:
    """``path`` if it is free (or ``exist_ok``), else the first free ``path2``, ``path3``, ... (YOLOv5's scheme).

    A file keeps its suffix (``results.csv`` -> ``results2.csv``). ``mkdir`` creates the returned folder.
    """
    path = Path(path)
    if path.exists() and not exist_ok:
        stem, suffix = (path.stem, path.suffix) if path.is_file() else (path.name, "")
        number = 2
        while (path.with_name(f"{stem}{number}{suffix}")).exists():
            number += 1
        path = path.with_name(f"{stem}{number}{suffix}")
    if mkdir:
        path.mkdir(parents=True, exist_ok=True)
    return path
