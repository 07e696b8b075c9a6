#!/usr/bin/env bash
# Creates .venv-yolov5, the reference venv of the parity tests: the ultralytics `yolov5` PyPI package (7.0.14) and
# `yolov7-package` (0.0.13, WongKinYiu/yolov7's model code), in a venv of their own, never ours. yolov5 needs
# numpy<2.4 (np.trapz) and a setuptools that still has pkg_resources.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${YOLOV5_VENV:-.venv-yolov5}
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import yolov5, yolov7_package" 2>/dev/null; then
  echo "reference packages already in $venv"; exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch==2.14.1 torchvision==0.29.1
fi
"$venv/bin/pip" install -q yolov5==7.0.14 "numpy<2.4" "setuptools>=77,<81" yolov7-package==0.0.13
echo "reference yolov5 and yolov7 packages installed in $venv"
