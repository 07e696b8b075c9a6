"""Convert Pascal VOC and COCO JSON datasets to the YOLO layout, and build the synthetic default dataset.

Command line::

    python -m utils.convert voc SRC OUT                          # SRC has Annotations/, JPEGImages/, ImageSets/Main/
    python -m utils.convert coco ANNOTATIONS.json IMAGES_DIR OUT [--split val]
    python -m utils.convert synthetic OUT [--seed 0]

Output: ``OUT/images/{train,val,test}/``, ``OUT/labels/...`` (``class x y w h`` normalised) and ``OUT/data.yaml``.
Boxes are clipped to the image (reported as fixed) and dropped when nothing is left (reported as dropped).

Annotation files are not trusted. Output names: an image is written under its path relative to the image folder
(``JPEGImages/`` for VOC, IMAGES_DIR for COCO) with ``/`` replaced by ``__`` (``a/x.jpg`` -> ``a__x.jpg``); when
that name's stem is already taken in the split (compared case-insensitively, since ``x.jpg`` and ``x.png`` share
``x.txt``), ``~2``, ``~3``, ... is added to the stem and the rename is reported as a collision. A path that leaves
the folder the user gave (absolute, or climbing out with ``..``) is not followed; every coordinate must be a finite
number. A bad entry is skipped and reported; a problem with the whole file is one :class:`UserError` line.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import shutil
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from utils.errors import UserError, run_reporting_user_errors
from utils.image_io import IMG_FORMATS, ImageReadError, verify_image

LOGGER = logging.getLogger(__name__)
MAX_PRINTED_NOTES = 50
SPLITS = ("train", "val", "test")
VOC_BOX_KEYS = ("xmin", "ymin", "xmax", "ymax")


@dataclass
class ConversionReport:
    """What a conversion wrote, and every image or box it had to fix, drop or rename. Each box read is either
    written or dropped (``boxes_read == sum(boxes_written.values()) + boxes_dropped``), and ``images`` counts the
    image files on disk: output names are unique within a split."""

    images: Counter = field(default_factory=Counter)  # split -> images written
    images_dropped: int = 0  # image entries not written (missing, unreadable, outside the source, malformed)
    boxes_read: int = 0
    boxes_written: Counter = field(default_factory=Counter)  # class name -> boxes written
    boxes_dropped: int = 0
    fixed: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # one note per dropped box or image entry
    collisions: list[str] = field(default_factory=list)  # one note per image renamed to keep its name unique
    names: list[str] = field(default_factory=list)
    taken: dict[str, set[str]] = field(default_factory=dict, repr=False)  # split -> case-folded stems written

    def drop_box(self, note: str) -> None:
        self.boxes_dropped += 1
        self.dropped.append(note)

    def drop_image(self, note: str, num_boxes: int) -> None:
        """An image entry not written, with its ``num_boxes`` boxes (already counted as read)."""
        self.images_dropped += 1
        self.boxes_dropped += num_boxes
        self.dropped.append(note)

    def notes(self) -> list[str]:
        return (
            [f"fixed {m}" for m in self.fixed]
            + [f"dropped {m}" for m in self.dropped]
            + [f"renamed {m}" for m in self.collisions]
        )

    def text(self, max_notes: int = MAX_PRINTED_NOTES) -> str:
        """Human-readable summary; at most ``max_notes`` fix/drop/rename lines (all are in ``OUT/conversion.log``)."""
        lines = [
            f"images: {', '.join(f'{s} {n}' for s, n in sorted(self.images.items())) or 'none'}; "
            f"{self.images_dropped} dropped, {len(self.collisions)} renamed (name collision)",
            f"boxes: {self.boxes_read} read, {sum(self.boxes_written.values())} written, "
            f"{len(self.fixed)} fixed, {self.boxes_dropped} dropped",
            "per class: " + ", ".join(f"{n} {self.boxes_written[n]}" for n in self.names),
        ]
        notes = self.notes()
        lines += notes[:max_notes]
        if len(notes) > max_notes:
            lines.append(f"... {len(notes) - max_notes} more in conversion.log")
        return "\n".join(lines)


def path_inside(root: Path, entry: object) -> tuple[Path, str] | None:
    """``(root / entry, entry normalised as a POSIX path)`` when ``entry`` (a path read from an annotation file) is
    a relative path that stays inside ``root``; None when it is not a string, is empty, absolute (``/x``, ``C:x``)
    or climbs out with ``..``. The check is on the text after normalisation, so an annotation cannot point outside;
    symlinks that the user placed inside ``root`` are followed (the folder is the user's, its annotations are not)."""
    if not isinstance(entry, str) or not entry.strip() or "\0" in entry:
        return None
    relative = Path(os.path.normpath(entry))
    if relative.anchor or relative.parts[:1] in ((), (os.pardir,), (os.curdir,)):
        return None
    return root / relative, relative.as_posix()


def output_name(report: ConversionReport, split: str, relative: str, key: str) -> str:
    """A file name for the image at ``relative`` (a normalised path from :func:`path_inside`) that no other image of
    ``split`` has: folders joined with ``__``, then ``~2``, ``~3``, ... on the stem while it is taken (reported)."""
    flat = relative.replace("/", "__")
    stem, suffix = os.path.splitext(flat)
    taken = report.taken.setdefault(split, set())
    name, k = stem, 1
    while name.casefold() in taken:
        k += 1
        name = f"{stem}~{k}"
    taken.add(name.casefold())
    if k > 1:
        report.collisions.append(f"{key}: {relative} written as {split}/{name}{suffix} ({flat} was taken)")
    return name + suffix


def box_numbers(values: list, labels: tuple[str, ...]) -> tuple[list[float], str]:
    """``values`` as floats, or ``([], why not)``: each must be a finite number (an int, a float or a string that
    parses as one). The one check every coordinate of both converters passes before it can be written."""
    numbers = []
    for label, value in zip(labels, values):
        if value is None:
            return [], f"no {label}"
        try:
            if isinstance(value, bool):  # JSON true/false would pass float() as 1/0
                raise TypeError
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            return [], f"{label} {value!r} is not a number"
        if not math.isfinite(number):
            return [], f"{label} {value!r} is not finite"
        numbers.append(number)
    return numbers, ""


def box_to_yolo(box: list[float], width: int, height: int, where: str, report: ConversionReport) -> list[float] | None:
    """Pixel ``xyxy`` box -> normalised ``[x, y, w, h]``, clipped to the image; None (and reported) if empty."""
    x1, y1, x2, y2 = box
    cx1, cx2 = min(max(x1, 0), width), min(max(x2, 0), width)
    cy1, cy2 = min(max(y1, 0), height), min(max(y2, 0), height)
    if cx2 - cx1 <= 0 or cy2 - cy1 <= 0:
        report.drop_box(f"{where}: box {box} has no area inside the {width}x{height} image")
        return None
    if (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2):
        report.fixed.append(f"{where}: box {box} clipped to the {width}x{height} image")
    return [(cx1 + cx2) / 2 / width, (cy1 + cy2) / 2 / height, (cx2 - cx1) / width, (cy2 - cy1) / height]


def write_sample(out: Path, split: str, image: Path, name: str, rows: list[tuple[int, list[float]]]) -> None:
    """Copy ``image`` to ``out/images/split/name`` and write its label file to ``out/labels/split/``."""
    (out / "images" / split).mkdir(parents=True, exist_ok=True)
    (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(image, out / "images" / split / name)
    lines = [f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}" for c, (x, y, w, h) in rows]
    (out / "labels" / split / f"{os.path.splitext(name)[0]}.txt").write_text("".join(f"{line}\n" for line in lines))


def write_data_yaml(out: Path, names: list[str], splits: list[str]) -> Path:
    """``out/data.yaml`` with an absolute ``path``, so YOLOv5 and ultralytics, which read a relative ``path``
    against their own folders, find the data unchanged. To move the folder, edit ``path`` or set ``path: .``
    (relative to the YAML file, in our reading)."""
    data = {"path": str(out.resolve()), **{s: f"images/{s}" for s in SPLITS if s in splits}}
    data["names"] = dict(enumerate(names))
    out.mkdir(parents=True, exist_ok=True)
    (out / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return out / "data.yaml"


def seeded_split(ids: list[str], seed: int = 0, val_fraction: float = 0.2) -> dict[str, str]:
    """Assign ``ids`` to train/val reproducibly: sorted, shuffled with ``seed``, the first ``val_fraction`` to val."""
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    n_val = round(len(order) * val_fraction)
    return {i: ("val" if k < n_val else "train") for k, i in enumerate(order)}


def _finish(out: Path, report: ConversionReport) -> ConversionReport:
    write_data_yaml(out, report.names, list(report.images))
    (out / "conversion.log").write_text("".join(f"{n}\n" for n in report.notes()))
    return report


@dataclass(frozen=True)
class SourceBox:
    """One box of a source annotation: its class id (None when it is not converted, ``drop_reason`` says why),
    pixel ``xyxy`` corners, and where it came from (for the report)."""

    class_id: int | None
    box: list[float]
    where: str
    drop_reason: str = ""


@dataclass(frozen=True)
class SourceImage:
    """One source image: its file (None when it is not converted, ``problem`` says why), its path relative to the
    image folder (the output name is made from it) and ``key``, the entry that names it (for the report)."""

    path: Path | None
    relative: str
    key: str
    problem: str = "image missing or unreadable"


def convert_image(out: Path, split: str, image: SourceImage, boxes: list[SourceBox], report: ConversionReport) -> None:
    """Write one image and its YOLO labels to ``out``'s ``split`` under a name unique in the split, the part both
    converters share: an image that is missing, unreadable or not converted is dropped with all its boxes; each box
    is dropped when it is not converted or has no area, clipped when it leaves the image, and counted in ``report``."""
    report.boxes_read += len(boxes)
    problem, size = image.problem, None
    if image.path is not None:
        try:
            size = verify_image(image.path)
        except ImageReadError:
            problem = "image missing or unreadable"
    if size is None:
        report.drop_image(f"{image.key}: {problem}, {len(boxes)} boxes", len(boxes))
        return
    height, width = size
    rows = []
    for source in boxes:
        if source.class_id is None:
            report.drop_box(f"{source.where}: {source.drop_reason}")
            continue
        yolo = box_to_yolo(source.box, width, height, source.where, report)
        if yolo:
            rows.append((source.class_id, yolo))
            report.boxes_written[report.names[source.class_id]] += 1
    write_sample(out, split, image.path, output_name(report, split, image.relative, image.key), rows)
    report.images[split] += 1


def voc_splits(src: Path, seed: int = 0) -> dict[str, str]:
    """Image id -> split from ``ImageSets/Main/{train,val,test}.txt``, else a seeded 80/20 train/val split."""
    main = src / "ImageSets" / "Main"
    assignment = {}
    for split in SPLITS:
        if (main / f"{split}.txt").is_file():
            for line in (main / f"{split}.txt").read_text().split("\n"):
                if line.strip():
                    assignment.setdefault(line.split()[0], split)
    if assignment:
        return assignment
    return seeded_split([p.stem for p in (src / "Annotations").glob("*.xml")], seed)


def parse_voc_xml(xml_file: Path) -> tuple[str | None, list[tuple[str, list[float], str]]]:
    """``(filename, [(class name stripped, [x1, y1, x2, y2], problem), ...])`` from one VOC annotation; ``problem``
    is "" for a usable object, else why it cannot be converted (no name, no ``<bndbox>``, a bad number)."""
    root = ET.parse(xml_file).getroot()
    filename = (root.findtext("filename") or "").strip() or None
    objects = []
    for obj in root.iter("object"):
        name, box = (obj.findtext("name") or "").strip(), obj.find("bndbox")
        if not name:
            objects.append((name, [], "no <name>"))
        elif box is None:
            objects.append((name, [], "no <bndbox>"))
        else:
            coords, problem = box_numbers(
                [box.findtext(k) for k in VOC_BOX_KEYS], tuple(f"<{k}>" for k in VOC_BOX_KEYS)
            )
            objects.append((name, coords, problem))
    return filename, objects


def _find_voc_image(src: Path, image_id: str, filename: str | None) -> SourceImage:
    """The image of ``image_id``: ``<filename>`` in ``JPEGImages/``, else ``{image_id}.{ext}``; never outside it."""
    root, key = src / "JPEGImages", f"{image_id}.xml"
    candidates = [filename] if filename else []
    for candidate in candidates + [f"{image_id}.{ext}" for ext in IMG_FORMATS]:
        inside = path_inside(root, candidate)
        if inside is None:
            return SourceImage(None, "", key, f"<filename> {candidate!r} leaves {root}, not followed")
        if inside[0].is_file():
            return SourceImage(inside[0], inside[1], key)
    return SourceImage(None, "", key)


def _read_voc(src: Path, splits: dict[str, str], report: ConversionReport) -> dict:
    """Image id -> parsed annotation; an id whose XML would lie outside ``Annotations/`` is dropped, not read. An
    XML that does not parse stops the conversion (one line naming it): it is the file, not one entry, that is bad."""
    parsed = {}
    for image_id in sorted(splits):
        xml_file = path_inside(src / "Annotations", f"{image_id}.xml")
        if xml_file is None:
            report.drop_image(f"ImageSets id {image_id!r}: leaves {src / 'Annotations'}, not read", 0)
            continue
        try:
            parsed[image_id] = parse_voc_xml(xml_file[0])
        except (OSError, ET.ParseError, ValueError) as exc:
            raise UserError(f"{xml_file[0]}: unreadable VOC annotation ({exc})") from exc
    return parsed


def _voc_below(src: Path) -> str:
    """``"; did you mean <subfolder>?"`` when a folder one level below ``src`` is a VOC root (``Annotations/`` and
    ``JPEGImages/``): the usual slip is passing ``VOCdevkit`` or the folder an archive unpacked into."""
    if not src.is_dir():
        return ""
    found = [d for d in sorted(src.iterdir()) if (d / "Annotations").is_dir() and (d / "JPEGImages").is_dir()]
    if len(found) == 1:
        return f"; did you mean {found[0]}?"
    return f"; did you mean one of {', '.join(str(d) for d in found)}?" if found else ""


def convert_voc(src: str | Path, out: str | Path, names: list[str] | None = None, seed: int = 0) -> ConversionReport:
    """Convert a VOC folder to YOLO layout in ``out``. ``names`` fixes the class order (default: sorted names
    found in the XML); objects of other classes, or with a bad box, are dropped and reported."""
    src, out = Path(src), Path(out)
    if not (src / "Annotations").is_dir():
        raise UserError(f"{src}: not a VOC folder (expected Annotations/ and JPEGImages/){_voc_below(src)}")
    splits = voc_splits(src, seed)
    report = ConversionReport()
    parsed = _read_voc(src, splits, report)
    names = list(names) if names else sorted({n for _, objs in parsed.values() for n, _, _ in objs if n})
    report.names = names
    class_ids = {n: i for i, n in enumerate(names)}
    for image_id, (filename, objects) in parsed.items():
        boxes = []
        for k, (name, box, problem) in enumerate(objects):
            where = f"{image_id}.xml object {k} ({name})"
            boxes.append(
                SourceBox(None if problem else class_ids.get(name), box, where, problem or "class not in names")
            )
        convert_image(out, splits[image_id], _find_voc_image(src, image_id, filename), boxes, report)
    return _finish(out, report)


def _is_id(value: object) -> bool:
    """A usable COCO id: a number or a string (a list or object would not work as a key; a bool is no id)."""
    return isinstance(value, (int, float, str)) and not isinstance(value, bool)


def _load_coco(path: Path) -> dict:
    """The JSON of ``path`` with ``images``, ``categories`` and ``annotations`` (may be absent) as lists. These are
    structural: when one is wrong nothing in the file can be trusted, so it is a UserError, not a skip."""
    try:
        coco = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a COCO detection JSON ({type(exc).__name__}: {exc})") from exc
    if not isinstance(coco, dict):
        raise UserError(f"{path}: not a COCO detection JSON (the top level is a {type(coco).__name__}, not an object)")
    for key in ("images", "categories", "annotations"):
        value = coco.get(key, [] if key == "annotations" else None)
        if not isinstance(value, list):
            raise UserError(f"{path}: not a COCO detection JSON ('{key}' must be a list, not {type(value).__name__})")
    return coco


def _coco_categories(path: Path, categories: list) -> tuple[list[str], dict]:
    """``(names, category id -> class index)`` in id order. A bad category is a UserError, not a skip: the class
    list fixes every label's class index, so leaving one out or guessing its name would silently shift classes."""
    seen = {}
    for k, category in enumerate(categories):
        if not isinstance(category, dict) or not _is_id(category.get("id")):
            raise UserError(f"{path}: categories[{k}] has no usable 'id'")
        name = category.get("name")
        if not isinstance(name, str) or not name.strip():
            raise UserError(f"{path}: categories[{k}] (id {category['id']}) has no 'name'")
        if category["id"] in seen:
            raise UserError(f"{path}: category id {category['id']} appears twice (categories[{k}])")
        seen[category["id"]] = name.strip()
    order = sorted(seen, key=lambda i: (isinstance(i, str), i))
    return [seen[i] for i in order], {i: k for k, i in enumerate(order)}


def _coco_images(path: Path, images: list, report: ConversionReport) -> dict:
    """Image id -> entry. An entry without a usable ``id`` is skipped (nothing can refer to it, the others are
    fine); an id given twice is a UserError, since its annotations could belong to either image."""
    index = {}
    for k, image in enumerate(images):
        image_id = image.get("id") if isinstance(image, dict) else None
        if not _is_id(image_id):
            report.drop_image(f"{path.name} images[{k}]: no usable 'id', skipped", 0)
        elif image_id in index:
            raise UserError(f"{path}: image id {image_id!r} appears twice in 'images' (images[{k}])")
        else:
            index[image_id] = image
    return index


def _coco_box(annotation: dict, class_ids: dict, where: str) -> SourceBox:
    """A COCO annotation (``bbox`` ``[x, y, w, h]`` in pixels) as a :class:`SourceBox`; crowd boxes, unknown
    categories and a ``bbox`` that is not four finite numbers are not converted (a skip of that one box)."""
    if annotation.get("iscrowd"):
        return SourceBox(None, [], where, "crowd box")
    category = annotation.get("category_id")
    if not _is_id(category) or category not in class_ids:
        return SourceBox(None, [], where, f"unknown category_id {category!r}")
    bbox = annotation.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4:
        return SourceBox(None, [], where, f"bbox {str(bbox)[:40]} is not [x, y, w, h]")
    numbers, problem = box_numbers(bbox, ("x", "y", "w", "h"))
    if problem:
        return SourceBox(None, [], where, problem)
    x, y, w, h = numbers
    return SourceBox(class_ids[category], [x, y, x + w, y + h], where)


def _coco_image(images_dir: Path, image_id: object, info: dict) -> SourceImage:
    """The image of one ``images`` entry; a missing ``file_name`` or one leaving ``images_dir`` is not converted."""
    file_name = info.get("file_name")
    inside = path_inside(images_dir, file_name)
    if inside is not None:
        return SourceImage(inside[0], inside[1], inside[1])
    if isinstance(file_name, str) and file_name.strip():
        problem = f"file_name {file_name!r} leaves {images_dir}, not followed"
    else:
        problem = "no usable 'file_name'"
    return SourceImage(None, "", f"image id {image_id!r}", problem)


def _coco_annotations(path: Path, annotations: list, images: dict, report: ConversionReport) -> dict:
    """Image id -> its annotations. One that names no image of the file is a dropped box (skip, not an error)."""
    per_image: dict = {i: [] for i in images}
    for k, annotation in enumerate(annotations):
        image_id = annotation.get("image_id") if isinstance(annotation, dict) else None
        if _is_id(image_id) and image_id in per_image:
            per_image[image_id].append(annotation)
            continue
        report.boxes_read += 1
        if not isinstance(annotation, dict):
            report.drop_box(f"{path.name} annotations[{k}]: not an object")
        else:
            known = "no usable 'image_id'" if not _is_id(image_id) else f"image_id {image_id!r} is not in 'images'"
            report.drop_box(f"{path.name} annotations[{k}] (id {annotation.get('id')}): {known}")
    return per_image


def convert_coco(
    annotations: str | Path, images_dir: str | Path, out: str | Path, split: str | None = None, seed: int = 0
) -> ConversionReport:
    """Convert a COCO detection JSON to YOLO layout in ``out``. Category ids map to 0..n-1 in id order; crowd
    boxes are dropped. All images go to ``split`` when given, else a seeded 80/20 train/val split."""
    annotations, images_dir, out = Path(annotations), Path(images_dir), Path(out)
    if split is not None and split not in SPLITS:
        raise UserError(f"--split {split!r}: expected one of {', '.join(SPLITS)}")
    coco = _load_coco(annotations)
    names, class_ids = _coco_categories(annotations, coco["categories"])
    report = ConversionReport(names=names)
    images = _coco_images(annotations, coco["images"], report)
    per_image = _coco_annotations(annotations, coco.get("annotations", []), images, report)
    assignment = seeded_split([str(i) for i in images], seed) if split is None else {}
    for image_id, info in images.items():
        image = _coco_image(images_dir, image_id, info)
        boxes = [_coco_box(a, class_ids, f"{image.key} annotation {a.get('id')}") for a in per_image[image_id]]
        convert_image(out, split or assignment[str(image_id)], image, boxes, report)
    return _finish(out, report)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; user mistakes print one line and exit 1."""
    parser = argparse.ArgumentParser(prog="python -m utils.data.convert", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="format", required=True)
    voc = sub.add_parser("voc", help="Pascal VOC folder -> YOLO")
    voc.add_argument("src", type=Path)
    voc.add_argument("out", type=Path)
    voc.add_argument("--seed", type=int, default=0, help="seed of the 80/20 split when there are no ImageSets")
    coco = sub.add_parser("coco", help="COCO JSON -> YOLO")
    coco.add_argument("annotations", type=Path)
    coco.add_argument("images", type=Path)
    coco.add_argument("out", type=Path)
    coco.add_argument("--split", default=None, choices=SPLITS, help="put every image in this split (default: 80/20)")
    coco.add_argument("--seed", type=int, default=0)
    synthetic = sub.add_parser("synthetic", help="build the built-in shapes dataset")
    synthetic.add_argument("out", type=Path)
    synthetic.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    return run_reporting_user_errors(lambda: _convert(args), exit_code=1)


def _convert(args: argparse.Namespace) -> None:
    if args.format == "voc":
        print(convert_voc(args.src, args.out, seed=args.seed).text())
    elif args.format == "coco":
        print(convert_coco(args.annotations, args.images, args.out, split=args.split, seed=args.seed).text())
    else:
        from utils.data.synthetic import build_shapes

        build_shapes(args.out, seed=args.seed)
    print(f"wrote {args.out / 'data.yaml'}")


if __name__ == "__main__":
    sys.exit(main())
