"""Detection models: YOLOv5 building blocks, pluggable backbones, the YAML parser and the head."""
