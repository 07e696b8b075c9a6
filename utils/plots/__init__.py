"""Drawing: boxes on images, batch grids and the label overview. Imports only the base modules of ``utils``."""
