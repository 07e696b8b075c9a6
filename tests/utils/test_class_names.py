import pytest

from utils.class_names import names_list
from utils.errors import UserError


def test_lists_and_index_keyed_dicts_give_the_same_names():
    assert names_list(["person", "car"], "m.pt") == ["person", "car"]
    assert names_list(("person", 7), "m.pt") == ["person", "7"]
    assert names_list({1: "car", 0: "person"}, "m.pt") == ["person", "car"]  # YOLOv5 v7.0
    assert names_list({"1": "car", "0": "person"}, "m.onnx") == ["person", "car"]  # JSON metadata
    assert names_list(None, "m.onnx") == []


@pytest.mark.parametrize("names", [{0: "a", 2: "b"}, {"x": "a"}, "person", 3])
def test_other_forms_name_the_file(names):
    with pytest.raises(UserError, match=r"^m\.pt: class names must be"):
        names_list(names, "m.pt")
