import numpy as np
import pytest
from PIL import Image

from utils.image_io import ImageReadError, load_image, verify_image


def test_exif_orientation_applied(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :10] = 255  # white strip on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    path = tmp_path / "rotated.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    img = load_image(path)
    assert img.shape == (40, 20, 3) and img.dtype == np.uint8
    assert img[:10].mean() > 200 and img[-10:].mean() < 50  # the strip is now on top
    assert verify_image(path) == (40, 20)


def test_grayscale_and_alpha_become_three_channel_bgr(tmp_path):
    Image.fromarray(np.full((30, 30), 200, np.uint8)).save(tmp_path / "gray.png")
    rgba = np.zeros((30, 30, 4), np.uint8)
    rgba[..., 0] = 255  # red in RGB
    rgba[..., 3] = 128
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    gray = load_image(tmp_path / "gray.png")
    assert gray.shape == (30, 30, 3) and (gray == 200).all()
    alpha = load_image(tmp_path / "alpha.png")
    assert alpha.shape == (30, 30, 3) and (alpha[..., 2] == 255).all() and (alpha[..., :2] == 0).all()  # BGR


def test_truncated_tiny_and_non_images_are_rejected(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "ok.jpg")
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    Image.fromarray(np.zeros((8, 40, 3), np.uint8)).save(tmp_path / "tiny.png")
    (tmp_path / "text.jpg").write_text("not an image")
    assert verify_image(tmp_path / "ok.jpg") == (64, 64)
    with pytest.raises(ImageReadError, match="truncated|unreadable"):
        verify_image(tmp_path / "cut.jpg")
    with pytest.raises(ImageReadError, match="under 10 px"):
        verify_image(tmp_path / "tiny.png")
    with pytest.raises(ImageReadError, match="unreadable"):
        verify_image(tmp_path / "text.jpg")
    with pytest.raises(ImageReadError, match="cannot decode"):
        load_image(tmp_path / "text.jpg")
