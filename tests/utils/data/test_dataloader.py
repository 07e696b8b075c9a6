import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from utils.data.dataloader import create_dataloader, seed_worker
from utils.data.dataset import YoloDataset
from utils.data.options import LoaderOptions
from utils.errors import UserError
from utils.hyp import load_hyp


def first_batch(loader):
    return next(iter(loader))


def test_train_batch_contract(shapes_root):
    loader, dataset = create_dataloader(
        shapes_root / "images" / "train",
        LoaderOptions(160, 8, 32, hyp=load_hyp(), augment=True, shuffle=True, workers=0, num_classes=3),
    )
    images, targets, paths, shapes = first_batch(loader)
    assert images.shape == (8, 3, 160, 160) and images.dtype == torch.uint8
    assert targets.ndim == 2 and targets.shape[1] == 6 and targets.dtype == torch.float32
    assert set(targets[:, 0].long().tolist()) <= set(range(8))
    assert ((targets[:, 2:] >= 0) & (targets[:, 2:] <= 1)).all() and (targets[:, 4:] > 0).all()
    assert set(targets[:, 1].long().tolist()) <= {0, 1, 2}
    assert len(paths) == 8 and all(p.endswith(".jpg") for p in paths) and len(shapes) == 8
    assert len(dataset) == 128


def test_val_rect_batches_and_shapes(shapes_root):
    loader, dataset = create_dataloader(shapes_root / "images" / "val", LoaderOptions(320, 8, 32, rect=True, workers=0))
    seen = 0
    for images, targets, _, shapes in loader:
        height, width = images.shape[2:]
        assert height % 32 == 0 and width % 32 == 0 and max(height, width) == 320
        for (h0, w0), ((gain_h, gain_w), (padw, padh)) in shapes:
            assert abs(h0 * gain_h + 2 * padh - height) <= 1 and abs(w0 * gain_w + 2 * padw - width) <= 1
        assert targets[:, 0].max() < len(images)
        seen += len(images)
    assert seen == 32 and len(dataset.batch_shapes) == 4
    ratios = dataset.shapes[:, 0] / dataset.shapes[:, 1]
    assert (np.diff(ratios) >= 0).all()  # sorted by aspect ratio


def test_val_labels_match_original_boxes(shapes_root):
    """Without augmentation, boxes mapped back through ``shapes`` equal the label file's boxes."""
    loader, dataset = create_dataloader(
        shapes_root / "images" / "val", LoaderOptions(320, 4, 32, rect=False, workers=0)
    )
    images, targets, paths, shapes = first_batch(loader)
    index = dataset.im_files.index(paths[0])
    (h0, w0), ((gain_h, gain_w), (padw, padh)) = shapes[0]
    mine = targets[targets[:, 0] == 0, 2:].numpy()
    x = (mine[:, 0] * 320 - padw) / gain_w / w0
    w = mine[:, 2] * 320 / gain_w / w0
    assert np.allclose(x, dataset.labels[index][:, 1], atol=2e-3)
    assert np.allclose(w, dataset.labels[index][:, 3], atol=2e-3)


@pytest.mark.parametrize("workers", [0, 2])
def test_same_seed_same_batches(shapes_root, workers):
    def batch(seed):
        loader, _ = create_dataloader(
            shapes_root / "images" / "train",
            LoaderOptions(128, 4, 32, hyp=load_hyp(), augment=True, shuffle=True, workers=workers, seed=seed),
        )
        return first_batch(loader)

    a, b, c = batch(0), batch(0), batch(1)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]
    assert not torch.equal(a[0], c[0])


class RandomDraws(torch.utils.data.Dataset):
    """Returns the next number of its ``rng``, like YoloDataset's augmentations."""

    def __init__(self):
        self.rng = np.random.default_rng(0)

    def __len__(self):
        return 4

    def __getitem__(self, index):
        return self.rng.random()


def test_workers_get_different_augmentation_streams():
    """Each worker holds a copy of the dataset; without re-seeding they would replay the same random stream."""

    def two_worker_loader():
        generator = torch.Generator().manual_seed(0)
        return torch.utils.data.DataLoader(
            RandomDraws(), batch_size=1, num_workers=2, worker_init_fn=seed_worker, generator=generator
        )

    draws = [float(x) for x in two_worker_loader()]  # items 0 and 1 are the first draws of worker 0 and worker 1
    assert draws[0] != draws[1]
    assert [float(x) for x in two_worker_loader()] == draws  # but a fresh loader with the same seed replays them


def test_cache_ram_and_disk_give_the_same_images(shapes_root, tmp_path):
    plain = YoloDataset(shapes_root / "images" / "val", LoaderOptions(imgsz=160))
    ram = YoloDataset(shapes_root / "images" / "val", LoaderOptions(imgsz=160, cache="ram"))
    assert all(im is not None for im in ram.ims)
    assert torch.equal(plain[3][0], ram[3][0])
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(shapes_root, copy)
    disk = YoloDataset(copy / "images" / "val", LoaderOptions(imgsz=160, cache="disk"))
    assert len(list((copy / "images" / "val").glob("*.npy"))) == 32
    assert torch.equal(plain[3][0], disk[3][0])
    with pytest.raises(UserError, match="--cache 'gpu'"):
        YoloDataset(shapes_root / "images" / "val", LoaderOptions(cache="gpu"))


def test_single_cls_and_class_check(shapes_root):
    dataset = YoloDataset(shapes_root / "images" / "val", LoaderOptions(imgsz=160, single_cls=True))
    assert all((lb[:, 0] == 0).all() for lb in dataset.labels)
    with pytest.raises(UserError, match=r"\.txt:\d+: class id 2 but the dataset YAML has nc=2"):
        YoloDataset(shapes_root / "images" / "val", LoaderOptions(imgsz=160, num_classes=2))


def test_empty_dataset_stops(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(UserError, match="no images found"):
        YoloDataset(tmp_path / "images")
    (tmp_path / "images" / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(UserError, match="no usable images.*1 corrupt"):
        YoloDataset(tmp_path / "images")


def test_distributed_sampler_under_ddp(shapes_root, tmp_path):
    """With a process group (gloo, one rank here), rank >= 0 shards the data through a DistributedSampler."""
    from torch.utils.data import DistributedSampler

    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        loader, dataset = create_dataloader(
            shapes_root / "images" / "train",
            LoaderOptions(160, 16, 32, hyp=load_hyp(), augment=True, shuffle=True, workers=0, rank=0, seed=3),
        )
        assert isinstance(loader.sampler, DistributedSampler)
        loader.sampler.set_epoch(1)
        order = list(loader.sampler)
        assert sorted(order) == list(range(len(dataset)))
        loader.sampler.set_epoch(2)
        assert list(loader.sampler) != order  # reshuffled each epoch
    finally:
        torch.distributed.destroy_process_group()


def _copy_split(shapes_root, folder):
    for kind in ("images", "labels"):
        shutil.copytree(shapes_root / kind / "val", folder / kind / "val")
    return folder / "images" / "val"


def test_an_image_that_stops_decoding_is_replaced_in_training(shapes_root, tmp_path):
    """The scan accepted the file, which breaks afterwards (rewritten, truncated): batches stay full, it is counted."""
    images = _copy_split(shapes_root, tmp_path)
    options = LoaderOptions(128, 8, 32, hyp=load_hyp(), augment=True, shuffle=True, workers=2, num_classes=3)
    loader, dataset = create_dataloader(images, options)
    broken = Path(dataset.im_files[5])
    broken.write_bytes(b"\xff\xd8 no longer a jpeg")
    sizes = [batch[0].shape[0] for batch in loader]
    assert sizes == [8, 8, 8, 8]  # 32 images, every batch full: the broken one was replaced
    assert dataset.take_decode_failures() >= 1 and dataset.take_decode_failures() == 0  # counted across workers, reset


def test_an_image_that_stops_decoding_is_left_out_of_evaluation(shapes_root, tmp_path):
    from utils.evaluation.evaluate import evaluate

    images = _copy_split(shapes_root, tmp_path)
    loader, dataset = create_dataloader(images, LoaderOptions(128, 8, 32, rect=True, pad=0.5, workers=2))
    Path(dataset.im_files[3]).write_bytes(b"")
    seen = [path for batch in loader for path in batch[2]]
    assert len(seen) == 31 and dataset.im_files[3] not in seen and dataset.take_decode_failures() == 1

    class Nothing(torch.nn.Module):  # finds nothing: only the bookkeeping is under test
        def forward(self, x):
            return torch.zeros(x.shape[0], 0, 8), None

    result = evaluate(Nothing(), loader, ["circle", "rectangle", "triangle"], device="cpu")
    assert result.images == 31 and result.undecodable == 1
