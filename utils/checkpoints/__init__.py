"""Checkpoint files: ours (plain dicts of state_dicts) and YOLOv5's, read without running pickled code."""
