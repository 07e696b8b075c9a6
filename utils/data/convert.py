"""Convert Pascal VOC and COCO JSON datasets to the YOLO layout, and build the synthetic default dataset.

Command line::

    python -m utils.convert voc SRC OUT                          # SRC has Annotations/, JPEGImages/, ImageSets/Main/
    python -m utils.convert coco ANNOTATIONS.json IMAGES_DIR OUT [--split val]
    python -m utils.convert synthetic OUT [--seed 0]

Output: ``OUT/images/{train,val,test}/``, ``OUT/labels/...`` (``class x y w h`` normalised) and ``OUT/data.yaml``.
Boxes are clipped to the image (reported as fixed) and dropped when nothing is left (reported as dropped).
"""

from __future__ import annotations

import argparse
import json
import logging
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


@dataclass
class ConversionReport:
    """What a conversion wrote, and every box it had to fix or drop."""

    images: Counter = field(default_factory=Counter)  # split -> images written
    boxes_read: int = 0
    boxes_written: Counter = field(default_factory=Counter)  # class name -> boxes written
    fixed: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def text(self, max_notes: int = MAX_PRINTED_NOTES) -> str:
        """Human-readable summary; at most ``max_notes`` fix/drop lines (all are in ``OUT/conversion.log``)."""
        lines = [
            f"images: {', '.join(f'{s} {n}' for s, n in sorted(self.images.items()))}",
            f"boxes: {self.boxes_read} read, {sum(self.boxes_written.values())} written, "
            f"{len(self.fixed)} fixed, {len(self.dropped)} dropped",
            "per class: " + ", ".join(f"{n} {self.boxes_written[n]}" for n in self.names),
        ]
        notes = [f"fixed {m}" for m in self.fixed] + [f"dropped {m}" for m in self.dropped]
        lines += notes[:max_notes]
        if len(notes) > max_notes:
            lines.append(f"... {len(notes) - max_notes} more in conversion.log")
        return "\n".join(lines)


def box_to_yolo(box: list[float], width: int, height: int, where: str, report: ConversionReport) -> list[float] | None:
    """Pixel ``xyxy`` box -> normalised ``[x, y, w, h]``, clipped to the image; None (and reported) if empty."""
    x1, y1, x2, y2 = box
    cx1, cx2 = min(max(x1, 0), width), min(max(x2, 0), width)
    cy1, cy2 = min(max(y1, 0), height), min(max(y2, 0), height)
    if cx2 - cx1 <= 0 or cy2 - cy1 <= 0:
        report.dropped.append(f"{where}: box {box} has no area inside the {width}x{height} image")
        return None
    if (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2):
        report.fixed.append(f"{where}: box {box} clipped to the {width}x{height} image")
    return [(cx1 + cx2) / 2 / width, (cy1 + cy2) / 2 / height, (cx2 - cx1) / width, (cy2 - cy1) / height]


def write_sample(out: Path, split: str, image: Path, rows: list[tuple[int, list[float]]]) -> None:
    """Copy ``image`` to ``out/images/split/`` and write its label file to ``out/labels/split/``."""
    (out / "images" / split).mkdir(parents=True, exist_ok=True)
    (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(image, out / "images" / split / image.name)
    lines = [f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}" for c, (x, y, w, h) in rows]
    (out / "labels" / split / f"{image.stem}.txt").write_text("".join(f"{line}\n" for line in lines))


def write_data_yaml(out: Path, names: list[str], splits: list[str]) -> Path:
    """``out/data.yaml`` with ``path: .`` so the folder can be moved."""
    data = {"path": ".", **{s: f"images/{s}" for s in ("train", "val", "test") if s in splits}}
    data["names"] = dict(enumerate(names))
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
    notes = [f"fixed {m}" for m in report.fixed] + [f"dropped {m}" for m in report.dropped]
    (out / "conversion.log").write_text("".join(f"{n}\n" for n in notes))
    return report


@dataclass(frozen=True)
class SourceBox:
    """One box of a source annotation: its class id (None when it is not converted, ``drop_reason`` says why),
    pixel ``xyxy`` corners, and where it came from (for the report)."""

    class_id: int | None
    box: list[float]
    where: str
    drop_reason: str = ""


def convert_image(
    out: Path, split: str, image: Path | None, key: str, boxes: list[SourceBox], report: ConversionReport
) -> None:
    """Write one image and its YOLO labels to ``out``'s ``split``, the part both converters share: an image that is
    missing or does not decode is dropped with all its boxes (reported under ``key``); each box is dropped when its
    class is not converted or it has no area, clipped when it leaves the image, and counted in ``report``."""
    report.boxes_read += len(boxes)
    try:
        height, width = verify_image(image) if image is not None else (0, 0)
    except ImageReadError:
        image = None
    if image is None:
        report.dropped.append(f"{key}: image missing or unreadable, {len(boxes)} boxes")
        return
    rows = []
    for source in boxes:
        if source.class_id is None:
            report.dropped.append(f"{source.where}: {source.drop_reason}")
            continue
        yolo = box_to_yolo(source.box, width, height, source.where, report)
        if yolo:
            rows.append((source.class_id, yolo))
            report.boxes_written[report.names[source.class_id]] += 1
    write_sample(out, split, image, rows)
    report.images[split] += 1


def voc_splits(src: Path, seed: int = 0) -> dict[str, str]:
    """Image id -> split from ``ImageSets/Main/{train,val,test}.txt``, else a seeded 80/20 train/val split."""
    main = src / "ImageSets" / "Main"
    assignment = {}
    for split in ("train", "val", "test"):
        if (main / f"{split}.txt").is_file():
            for line in (main / f"{split}.txt").read_text().split("\n"):
                if line.strip():
                    assignment.setdefault(line.split()[0], split)
    if assignment:
        return assignment
    return seeded_split([p.stem for p in (src / "Annotations").glob("*.xml")], seed)


def parse_voc_xml(xml_file: Path) -> tuple[str | None, list[tuple[str, list[float]]]]:
    """``(filename, [(class name stripped, [x1, y1, x2, y2]), ...])`` from one VOC annotation."""
    root = ET.parse(xml_file).getroot()
    filename = (root.findtext("filename") or "").strip() or None
    objects = []
    for obj in root.iter("object"):
        box = obj.find("bndbox")
        coords = [float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
        objects.append(((obj.findtext("name") or "").strip(), coords))
    return filename, objects


def _find_voc_image(src: Path, image_id: str, filename: str | None) -> Path | None:
    candidates = [src / "JPEGImages" / filename] if filename else []
    candidates += [src / "JPEGImages" / f"{image_id}.{ext}" for ext in IMG_FORMATS]
    return next((p for p in candidates if p.is_file()), None)


def convert_voc(src: str | Path, out: str | Path, names: list[str] | None = None, seed: int = 0) -> ConversionReport:
    """Convert a VOC folder to YOLO layout in ``out``. ``names`` fixes the class order (default: sorted names
    found in the XML); objects of other classes are dropped and reported."""
    src, out = Path(src), Path(out)
    if not (src / "Annotations").is_dir():
        raise UserError(f"{src}: not a VOC folder (expected Annotations/ and JPEGImages/)")
    splits = voc_splits(src, seed)
    parsed = {}
    for image_id in sorted(splits):
        xml_file = src / "Annotations" / f"{image_id}.xml"
        try:
            parsed[image_id] = parse_voc_xml(xml_file)
        except (OSError, ET.ParseError, TypeError, ValueError, AttributeError) as exc:
            raise UserError(f"{xml_file}: unreadable VOC annotation ({exc})") from exc
    names = list(names) if names else sorted({n for _, objs in parsed.values() for n, _ in objs})
    report = ConversionReport(names=names)
    class_ids = {n: i for i, n in enumerate(names)}
    for image_id, (filename, objects) in parsed.items():
        boxes = [
            SourceBox(class_ids.get(name), box, f"{image_id}.xml object {k} ({name})", "class not in names")
            for k, (name, box) in enumerate(objects)
        ]
        convert_image(out, splits[image_id], _find_voc_image(src, image_id, filename), image_id, boxes, report)
    return _finish(out, report)


def convert_coco(
    annotations: str | Path, images_dir: str | Path, out: str | Path, split: str | None = None, seed: int = 0
) -> ConversionReport:
    """Convert a COCO detection JSON to YOLO layout in ``out``. Category ids map to 0..n-1 in id order; crowd
    boxes are dropped. All images go to ``split`` when given, else a seeded 80/20 train/val split."""
    annotations, images_dir, out = Path(annotations), Path(images_dir), Path(out)
    try:
        coco = json.loads(annotations.read_text())
        images = {im["id"]: im for im in coco["images"]}
        categories = sorted(coco["categories"], key=lambda c: c["id"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{annotations}: not a COCO detection JSON ({type(exc).__name__}: {exc})") from exc
    names = [str(c["name"]).strip() for c in categories]
    class_ids = {c["id"]: i for i, c in enumerate(categories)}
    report = ConversionReport(names=names)
    per_image: dict = {i: [] for i in images}
    for ann in coco.get("annotations", []):
        per_image.setdefault(ann["image_id"], []).append(ann)
    assignment = seeded_split([str(i) for i in images], seed) if split is None else {}
    for image_id, anns in per_image.items():
        info = images.get(image_id)
        image = images_dir / info["file_name"] if info else None
        name = image.name if image is not None else f"image id {image_id}"
        boxes = [_coco_box(ann, class_ids, f"{name} annotation {ann.get('id')}") for ann in anns]
        convert_image(out, split or assignment[str(image_id)], image, f"image id {image_id}", boxes, report)
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
    coco.add_argument("--split", default=None, help="put every image in this split (default: seeded 80/20)")
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


def _coco_box(annotation: dict, class_ids: dict, where: str) -> SourceBox:
    """A COCO annotation (``bbox`` ``[x, y, w, h]`` in pixels) as a :class:`SourceBox`; crowd boxes and unknown
    categories are not converted (their ``bbox`` is not read)."""
    if annotation.get("iscrowd"):
        return SourceBox(None, [], where, "crowd box")
    if annotation.get("category_id") not in class_ids:
        return SourceBox(None, [], where, f"unknown category_id {annotation.get('category_id')}")
    x, y, w, h = annotation["bbox"]
    return SourceBox(class_ids[annotation["category_id"]], [x, y, x + w, y + h], where)
