"""Scoring a detector: the evaluation loop shared by ``val.py`` and training, COCO-style metrics, pycocotools, plots."""
