"""Read and check a dataset YAML (YOLOv5 keys), building or downloading the data when it is missing.

Keys: ``path`` (root: absolute, or relative, see :func:`resolve_root`), ``train``, ``val``, optional ``test`` (each a
folder of images, a ``.txt`` list of images, or a list of those, relative to ``path``), ``names`` (list or
``{id: name}``), optional ``nc`` (must agree with ``names``), optional ``download``. ``download`` is data, never
code: ``shapes`` (build the built-in dataset) or a list of steps ``{url: ..., dir: ...}`` (fetch an archive and
extract it into ``dir`` relative to ``path``) and ``{convert: voc, src: ..., out: ...}`` (run the VOC converter).
"""

from __future__ import annotations

import logging
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from utils.errors import UserError
from utils.suggest import did_you_mean
from utils.yaml_io import read_yaml_mapping

LOGGER = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]
KNOWN_KEYS = ("path", "train", "val", "test", "names", "nc", "download")
SPLITS = ("train", "val", "test")
DOWNLOAD_TIMEOUT_S = 30


def check_dataset(yaml_path: str | Path, autobuild: bool = True) -> dict:
    """Load ``yaml_path`` and return it resolved: ``path`` a ``Path``, each split a list of absolute ``Path``
    (``test`` None when absent), ``names`` a list, ``nc`` an int, plus ``yaml_file``.

    Missing ``train``/``val`` data runs the ``download`` step when ``autobuild`` (else, or without one, raises
    :class:`UserError` naming the YAML and the key).
    """
    yaml_path = Path(yaml_path).resolve()
    data = _read_yaml(yaml_path)
    names = _names(data, yaml_path)
    root, tried = resolve_root(data.get("path"), yaml_path)
    out = {"yaml_file": yaml_path, "path": root, "names": names, "nc": len(names), "download": data.get("download")}
    for split in SPLITS:
        value = data.get(split)
        if value is None and split != "test":
            raise UserError(f"{yaml_path}: missing key '{split}' (a folder of images, a .txt list, or a list)")
        items = value if isinstance(value, list) else [value] if value is not None else None
        if items is not None and not all(isinstance(v, str) and v for v in items):
            raise UserError(f"{yaml_path}: key '{split}' must be a path or a list of paths, got {value!r}")
        out[split] = [_resolve(root, v) for v in items] if items is not None else None
    missing = _missing(out)
    if missing and autobuild and out["download"]:
        run_download(out["download"], root, names, yaml_path)
        missing = _missing(out)
    if missing:
        key, path = missing[0]
        hint = "" if out["download"] else " and the YAML has no 'download' step"
        if len(tried) > 1 and not root.is_dir():
            hint += f"; 'path: {data['path']}' was looked for at " + ", ".join(f"{p} ({rule})" for rule, p in tried)
        raise UserError(f"{yaml_path}: '{key}' path {path} does not exist{hint}")
    return out


def resolve_root(path: str | None, yaml_path: Path) -> tuple[Path, list[tuple[str, Path]]]:
    """The dataset root for the YAML's ``path`` value, and every ``(rule, place)`` looked at.

    Ours first: a relative ``path`` is relative to the YAML file, so a dataset folder travels with its YAML. When that
    folder does not exist, YOLOv5's rules follow (relative to the current directory, then to this repository's root),
    so its YAMLs (``path: ../datasets/coco128`` beside the repo) work unchanged; the rule that found it is logged.
    When no folder exists the first place is returned (a ``download`` step fills it) with all the places tried.
    """
    yaml_dir = yaml_path.parent
    if path is not None and not isinstance(path, str):
        raise UserError(f"{yaml_path}: key 'path' must be a folder path, got {path!r}")
    if not path:
        return yaml_dir, [("the YAML's folder", yaml_dir)]
    if Path(path).is_absolute():
        return Path(path).resolve(), [("absolute", Path(path).resolve())]
    rules = (("relative to the YAML file", yaml_dir), ("relative to the current directory", Path.cwd()),
             ("relative to the repository root", REPO_ROOT))  # fmt: skip
    tried = []
    for rule, base in rules:
        place = (base / path).resolve()
        if place not in (p for _, p in tried):
            tried.append((rule, place))
    for index, (rule, place) in enumerate(tried):
        if place.is_dir():
            if index:
                LOGGER.info("%s: path %s found %s at %s (YOLOv5's rule; not at %s)", yaml_path, path, rule, place,
                            tried[0][1])  # fmt: skip
            return place, tried
    return tried[0][1], tried


def _read_yaml(yaml_path: Path) -> dict:
    data = read_yaml_mapping(yaml_path, "dataset YAML")
    for key in data:
        if key not in KNOWN_KEYS:
            hint = did_you_mean(str(key), KNOWN_KEYS)
            raise UserError(f"{yaml_path}: unknown key {key!r}{hint} (expected {', '.join(KNOWN_KEYS)})")
    return data


def _names(data: dict, yaml_path: Path) -> list[str]:
    """``names`` as a list indexed by class id; a dict must have keys 0..n-1."""
    names = data.get("names")
    if isinstance(names, dict):
        if sorted(names) != list(range(len(names))):
            raise UserError(f"{yaml_path}: 'names' dict keys must be the class ids 0..{len(names) - 1}")
        names = [names[i] for i in range(len(names))]
    if not isinstance(names, list) or not names:
        raise UserError(f"{yaml_path}: 'names' must be a non-empty list or {{id: name}} dict")
    names = [str(n) for n in names]
    nc = data.get("nc")
    if nc is not None and nc != len(names):
        raise UserError(f"{yaml_path}: nc={nc} but 'names' has {len(names)} entries")
    return names


def _resolve(root: Path, value: str) -> Path:
    p = Path(value)
    return (p if p.is_absolute() else root / p).resolve()


def _missing(data: dict) -> list[tuple[str, Path]]:
    return [(key, p) for key in ("train", "val") for p in data[key] if not p.exists()]


def run_download(download: str | list, root: Path, names: list[str], yaml_path: Path) -> None:
    """Run the YAML's ``download`` step(s) into ``root``; see the module docstring for the forms."""
    if download == "shapes":
        from utils.data.synthetic import build_shapes

        LOGGER.info("Building the shapes dataset in %s", root)
        build_shapes(root)
        return
    if not isinstance(download, list) or not all(isinstance(s, dict) for s in download):
        raise UserError(f"{yaml_path}: 'download' must be 'shapes' or a list of {{url, dir}} / {{convert}} steps")
    for step in download:
        if "url" in step:
            fetch_and_extract(step["url"], root / step.get("dir", "."), yaml_path)
        elif step.get("convert") == "voc":
            from utils.data.convert import convert_voc

            convert_voc(root / step["src"], root / step["out"], names=names)
        else:
            raise UserError(f"{yaml_path}: unknown download step {step!r}")


def fetch_and_extract(url: str, dest: Path, yaml_path: Path | str = "dataset YAML") -> None:
    """Download ``url`` (zip or tar) and extract it into ``dest``; network failures raise one clear line.

    ``dest`` is normalised first (``datasets/coco128/..`` is shown and used as ``datasets``)."""
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    name = url.rstrip("/").rsplit("/", 1)[-1]
    LOGGER.info("Downloading %s to %s", url, dest)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        archive = Path(tmp) / name
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(archive, "wb") as f:
                shutil.copyfileobj(response, f)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UserError(
                f"{yaml_path}: dataset missing and download of {url} failed ({reason}); download it on a machine "
                f"with internet access and place it under {dest}"
            ) from exc
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                _refuse_members_outside(zf.namelist(), dest, url, yaml_path)
                zf.extractall(dest)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                _refuse_members_outside(tf.getnames(), dest, url, yaml_path)
                try:
                    tf.extractall(dest, filter="data")  # also refuses links and devices that point outside
                except tarfile.FilterError as error:
                    raise UserError(f"{yaml_path}: {url} holds an unsafe member ({error}); not extracted") from None
        else:
            raise UserError(f"{yaml_path}: {url} is not a zip or tar archive")


def _refuse_members_outside(names: list[str], dest: Path, url: str, yaml_path: Path | str) -> None:
    """An archive member whose path is absolute or climbs out of ``dest`` (``../``) stops the extraction first."""
    root = dest.resolve()
    for name in names:
        target = (root / name).resolve()
        if Path(name).is_absolute() or not target.is_relative_to(root):
            raise UserError(f"{yaml_path}: {url} has a member {name!r} outside {dest}; not extracted")
