import difflib

from utils.suggest import closest, did_you_mean

NAMES = [f"efficientnet_b{i}" for i in range(8)] + ["darknet53", "cspdarknet53"]


def test_closest_agrees_with_difflib_where_spelling_is_not_confusable():
    for typed in ["darknet5", "cspdarknet", "efficentnet_b3", "efficientnet_b33"]:
        assert closest(typed, NAMES) == difflib.get_close_matches(typed, NAMES, n=1)[0]


def test_confusable_characters_decide_ties():
    assert difflib.get_close_matches("efficientnet_bo", NAMES, n=1) == ["efficientnet_b7"]  # the reason for closest
    assert closest("efficientnet_bo", NAMES) == "efficientnet_b0"
    assert closest("EfficientNet-B0", NAMES) == "efficientnet_b0"


def test_nothing_close_gives_no_hint():
    assert closest("yolo", NAMES) is None
    assert did_you_mean("yolo", NAMES) == ""
    assert did_you_mean("darknet", NAMES) == "; did you mean 'darknet53'?"
