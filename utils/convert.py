"""``python -m utils.convert voc|coco|synthetic ...``: the dataset converter's command under the name the README and
earlier runs use. The code is :mod:`utils.data.convert`; this entry point only runs it."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from utils.data.convert import main

    sys.exit(main())
