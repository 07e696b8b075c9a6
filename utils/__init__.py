"""Shared helpers for training, validation, detection and export."""
