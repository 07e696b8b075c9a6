"""Running a trained detector: one loader for every model format, input sources, ``detect.py``'s work, TTA."""
