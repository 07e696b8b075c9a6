"""The torch-free detect path: ``detect.py`` on an ONNX file or an OpenVINO folder with only numpy, OpenCV, Pillow,
pyyaml and the runtime imported (``requirements-deploy.txt``), so a deployed process does not carry torch's
~600 MB. Letterbox, box scaling, drawing and writing are the shared modules, which import no torch either."""
