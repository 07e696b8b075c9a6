import pytest
import yaml

from models.recipe import BackboneRecipe, read_backbone_recipe
from models.yolo import DetectionModel
from utils.errors import UserError


def test_absent_recipe_changes_nothing():
    recipe = read_backbone_recipe({"nc": 1})
    assert recipe == BackboneRecipe() and recipe.is_default and not recipe.frozen_at(0)


def test_recipe_values_are_read_and_frozen_epochs_count_from_zero():
    recipe = read_backbone_recipe({"backbone_recipe": {"lr_multiplier": 0.1, "frozen_epochs": 3}})
    assert recipe == BackboneRecipe(0.1, 3) and not recipe.is_default
    assert [recipe.frozen_at(epoch) for epoch in range(5)] == [True, True, True, False, False]
    assert "lr0 x 0.1, frozen for epochs 0-2" in recipe.describe(1)


@pytest.mark.parametrize(
    "recipe, message",
    [
        ({"lr_multiplier": 0}, "lr_multiplier 0: expected a number"),
        ({"lr_multiplier": "small"}, "lr_multiplier 'small'"),
        ({"frozen_epochs": 1.5}, "frozen_epochs 1.5: expected an integer"),
        ({"frozen_epochs": -1}, "frozen_epochs -1"),
        ({"lr_multipler": 0.1}, "unknown key 'lr_multipler'; did you mean 'lr_multiplier'?"),
        ([0.1, 3], "expected a mapping"),
    ],
)
def test_bad_recipes_name_the_file_and_key(recipe, message):
    with pytest.raises(UserError, match="my.yaml: backbone_recipe") as error:
        read_backbone_recipe({"backbone_recipe": recipe}, "my.yaml")
    assert message in str(error.value)


def test_the_parser_checks_the_recipe_before_building(tmp_path):
    cfg = yaml.safe_load(open("configs/models/yolov5n.yaml"))
    cfg["backbone_recipe"] = {"frozen_epochs": "three"}
    with pytest.raises(UserError, match="frozen_epochs 'three'"):
        DetectionModel(cfg, verbose=False)
    cfg["backbone_recipe"] = {"frozen_epochs": 3}
    assert DetectionModel(cfg, verbose=False).yaml["backbone_recipe"] == {"frozen_epochs": 3}
