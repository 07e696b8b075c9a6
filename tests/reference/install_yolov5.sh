#!/usr/bin/env bash
# Creates .venv-yolov5: the ultralytics `yolov5` PyPI package (7.0.14) in a venv of its own, used only as a
# reference by the parity tests. It needs numpy<2.4 (np.trapz) and a setuptools that still has pkg_resources.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${YOLOV5_VENV:-.venv-yolov5}
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import yolov5" 2>/dev/null; then
  echo "reference yolov5 package already in $venv"; exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q torch==2.14.1 torchvision==0.29.1
"$venv/bin/pip" install -q yolov5==7.0.14 "numpy<2.4" "setuptools>=77,<81"
echo "reference yolov5 package installed in $venv"
