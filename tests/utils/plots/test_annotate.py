import numpy as np

from utils.plots.annotate import class_color, draw_box


def test_box_outline_and_label_background_are_drawn():
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    draw_box(image, [20, 40, 80, 90], "cat 0.9", color=(0, 0, 255), thickness=2)
    assert (image[60, 20] == (0, 0, 255)).all() and (image[60, 80] == (0, 0, 255)).all()  # left and right edges
    assert (image[65, 50] == 0).all()  # inside stays untouched
    assert (image[30:39, 22:40] != 0).any()  # label background above the box


def test_class_colours_are_stable_and_distinct():
    assert class_color(3) == class_color(23)
    assert len({class_color(i) for i in range(20)}) == 20
