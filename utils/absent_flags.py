"""The YOLOv5 flags this repository leaves out on purpose, and why: shown in each script's ``--help`` epilog and,
when one is passed, as the error instead of argparse's bare "unrecognized arguments"."""

from __future__ import annotations

import argparse
import textwrap

ABSENT_FLAGS = {  # flag: (YOLOv5 script, why it is absent and what to do instead)
    "--image-weights": (
        "train.py",
        "samples images by their classes' mAP; YOLOv5 cannot use it with DDP and it seldom helps. Balance the data.",
    ),
    "--quad": ("train.py", "YOLOv5's experimental 4-image collate; it changes the loss scale. Train at the size used."),
    "--dnn": ("detect.py, val.py", "OpenCV DNN for ONNX. Pass the .onnx file: it runs on ONNX Runtime here."),
    "--save-hybrid": ("val.py", "merges the labels into the predictions, so its mAP is inflated. Use --save-txt."),
}


def absent_flags_epilog() -> str:
    """The ``--help`` note: one line per absent flag with its reason (for a RawDescriptionHelpFormatter)."""
    lines = ["YOLOv5 flags left out on purpose:"]
    for flag, (script, reason) in ABSENT_FLAGS.items():
        lines += textwrap.wrap(f"{flag} ({script}): {reason}", 78, initial_indent="  ", subsequent_indent="      ")
    return "\n".join(lines)


class _AbsentFlag(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace, values, option_string=None) -> None:
        flag = self.option_strings[0]
        parser.error(f"{flag} is not supported: {ABSENT_FLAGS[flag][1]}")


def add_absent_flags(parser: argparse.ArgumentParser) -> None:
    """Hidden options for every absent flag that stop the parser with the flag's reason (exit 2, as argparse does
    for an unknown flag), and the note as the parser's epilog. They add nothing to the parsed namespace."""
    parser.epilog = absent_flags_epilog()
    for flag in ABSENT_FLAGS:
        parser.add_argument(flag, nargs=0, action=_AbsentFlag, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
