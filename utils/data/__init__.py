"""Datasets: reading dataset YAMLs, scanning labels, the dataset and its loader, augmentation, conversion, the shapes
set. Imports only the base modules of ``utils``, never ``models``."""
