"""The in-memory loader's crops, checked against slices of the normalised images written out by hand:
the parts of resreg/data/loader.py that mutation testing (docs/testing.md) found no test looking at."""

from __future__ import annotations

import pytest
import torch

from resreg.data import AugmentOptions, ImageSet, Stats, make_loader
from resreg.errors import ConfigError

CPU = torch.device("cpu")
MEAN, STD = (0.5, 0.25, 0.75), (0.2, 0.4, 0.1)


def images(n: int, h: int, w: int) -> ImageSet:
    pixels = torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return ImageSet(pixels, torch.arange(n), [str(i) for i in range(n)])


def normalised(split: ImageSet) -> torch.Tensor:
    """What every loader yields before cropping: 0..1, minus the channel mean, over the channel std."""
    return (split.images.float() / 255 - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)


def batches(split: ImageSet, augment: AugmentOptions, *, train: bool, device: torch.device = CPU, **kwargs: object):
    loader = make_loader(
        split,
        batch_size=len(split),
        train=train,
        augment=augment,
        device=device,
        seed=0,
        stats=Stats(MEAN, STD),
        **kwargs,
    )
    return list(loader.batches(0))


def test_evaluation_with_scale_takes_the_centre_crop_of_the_image_resized_to_crop_over_0_875() -> None:
    # crop 14 -> shorter side 16 (round(14 / 0.875)): a 16x20 image keeps its size, and the centre 14x14
    # starts 1 pixel down and 3 across (torchvision's CenterCrop of a 16x20 image)
    split = images(4, 16, 20)
    [(x, labels)] = batches(split, AugmentOptions(scale=[16, 24], crop_size=14), train=False)
    torch.testing.assert_close(x, normalised(split)[:, :, 1:15, 3:17], atol=1e-5, rtol=0)
    assert labels.tolist() == [0, 1, 2, 3]


def test_evaluation_without_scale_takes_the_centre_crop() -> None:
    split = images(4, 16, 16)
    [(x, _)] = batches(split, AugmentOptions(crop_size=12), train=False)
    assert torch.equal(x, normalised(split)[:, :, 2:14, 2:14])


@pytest.mark.parametrize(("h", "w"), [(20, 16), (16, 20)])
def test_scale_without_crop_size_crops_squares_of_the_shorter_side(h: int, w: int) -> None:
    split = images(4, h, w)
    augment = AugmentOptions(scale=[16, 24])
    [(train, _)] = batches(split, augment, train=True)
    [(evaluation, _)] = batches(split, augment, train=False)
    assert train.shape == evaluation.shape == (4, 3, 16, 16)


def test_training_with_scale_resizes_and_crops_every_image() -> None:
    # images of one colour each: whatever the scale and position, the crop is that colour, crop_size square
    colours = torch.randint(0, 256, (6, 3, 1, 1), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    split = ImageSet(colours.expand(6, 3, 16, 16).contiguous(), torch.arange(6), [str(i) for i in range(6)])
    [(x, labels)] = batches(split, AugmentOptions(scale=[16, 32], crop_size=12), train=True)
    expected = normalised(split)[labels][:, :, :12, :12]
    torch.testing.assert_close(x, expected, atol=1e-5, rtol=0)


def test_padded_crops_are_the_images_shifted_with_a_border_of_the_mean() -> None:
    # 1 pixel of padding: each training crop is the zero-padded normalised image at one of 3 x 3 offsets,
    # and with 16 images some are not at the centre one (the unpadded image)
    split = images(16, 8, 8)
    [(x, labels)] = batches(split, AugmentOptions(crop_padding=1), train=True)
    padded = torch.nn.functional.pad(normalised(split)[labels], (1, 1, 1, 1))
    offsets = []
    for crop, image in zip(x, padded, strict=True):
        found = [(t, s) for t in range(3) for s in range(3) if torch.allclose(crop, image[:, t : t + 8, s : s + 8])]
        assert found, "a crop that is not a shifted copy of its padded image"
        offsets.append(found[0])
    assert set(offsets) - {(1, 1)}


@pytest.mark.parametrize(("h", "w"), [(20, 16), (16, 20)])
def test_a_crop_larger_than_either_padded_side_is_refused(h: int, w: int) -> None:
    split = images(2, h, w)
    with pytest.raises(ConfigError, match=r"train.augment.crop_size=19 exceeds the \d+x\d+ images"):
        batches(split, AugmentOptions(crop_size=19, crop_padding=1), train=True)
    batches(split, AugmentOptions(crop_size=18, crop_padding=1), train=True)  # 16 + 2 x 1 fits


def test_scale_and_crop_padding_together_are_refused_naming_both() -> None:
    refused = r"^train\.augment\.scale and train\.augment\.crop_padding are two ways to crop"
    with pytest.raises(ConfigError, match=refused):
        batches(images(2, 16, 16), AugmentOptions(scale=[16, 20], crop_padding=2), train=True)


def test_a_mean_image_of_another_shape_is_refused_naming_both_shapes() -> None:
    split = images(2, 16, 16)
    stats = Stats(MEAN, STD, torch.zeros(3, 8, 8))
    with pytest.raises(ConfigError, match=r"the mean image is \(3, 8, 8\), the images \(3, 16, 16\)"):
        make_loader(
            split, batch_size=2, train=True, augment=AugmentOptions(normalize="pixel"), device=CPU, seed=0, stats=stats
        )


@pytest.mark.parametrize("train", [True, False])
def test_batches_are_on_the_device_asked_for(train: bool) -> None:
    # the meta device computes shapes only: enough to see that images, labels and statistics all moved there
    meta = torch.device("meta")
    [(x, labels)] = batches(images(4, 8, 8), AugmentOptions(crop_size=6), train=train, device=meta)
    assert (x.device, labels.device, x.shape) == (meta, meta, (4, 3, 6, 6))


def crop_offsets_found(x: torch.Tensor, image: torch.Tensor) -> list[tuple[int, int]]:
    """Where in the 1-pixel zero-padded `image` each crop of `x` was taken."""
    padded = torch.nn.functional.pad(image, (1, 1, 1, 1))
    h, w = image.shape[1:]
    return [
        next((t, s) for t in range(3) for s in range(3) if torch.allclose(c, padded[:, t : t + h, s : s + w]))
        for c in x
    ]


def test_each_batch_and_each_epoch_draws_its_own_augmentation() -> None:
    # one image repeated: the order cannot matter, only the crop positions drawn for each batch
    one = images(1, 8, 8)
    split = ImageSet(one.images.expand(16, 3, 8, 8).contiguous(), torch.zeros(16, dtype=torch.int64), ["0"])
    loader = make_loader(
        split,
        batch_size=8,
        train=True,
        augment=AugmentOptions(crop_padding=1),
        device=CPU,
        seed=0,
        stats=Stats(MEAN, STD),
    )
    image = normalised(one)[0]
    [first, second] = [crop_offsets_found(x, image) for x, _ in loader.batches(0)]
    [next_epoch, _] = [crop_offsets_found(x, image) for x, _ in loader.batches(1)]
    assert first != second
    assert first != next_epoch


def test_the_order_depends_on_the_seed_and_the_epoch() -> None:
    split = images(32, 2, 2)

    def order(seed: int, epoch: int) -> list[int]:
        loader = make_loader(
            split, batch_size=32, train=True, augment=AugmentOptions(), device=CPU, seed=seed, stats=Stats(MEAN, STD)
        )
        return next(iter(loader.batches(epoch)))[1].tolist()

    assert order(0, 0) != order(2, 0)
    assert order(0, 0) != order(0, 2)
    assert order(0, 1) == order(0, 1)


def test_a_batch_size_under_one_and_a_rank_outside_the_world_are_refused_naming_them() -> None:
    split, options = images(4, 2, 2), {"train": True, "augment": AugmentOptions(), "device": CPU, "seed": 0}
    with pytest.raises(ConfigError, match=r"^batch_size=0 must be at least 1$"):
        make_loader(split, batch_size=0, stats=Stats(MEAN, STD), **options)
    with pytest.raises(ConfigError, match=r"^rank 2 is not in a world of 2 processes$"):
        make_loader(split, batch_size=2, rank=2, world_size=2, stats=Stats(MEAN, STD), **options)


def test_evaluation_drops_the_short_last_batch_only_when_asked() -> None:
    split = images(10, 2, 2)
    for drop_last, sizes in ((None, [4, 4, 2]), (True, [4, 4])):
        loader = make_loader(
            split,
            batch_size=4,
            train=False,
            augment=AugmentOptions(),
            device=CPU,
            seed=0,
            stats=Stats(MEAN, STD),
            drop_last=drop_last,
        )
        assert [len(labels) for _, labels in loader.batches(0)] == sizes


def test_grey_images_train_without_lighting_and_statistics_must_match_their_channels() -> None:
    grey = ImageSet(torch.full((2, 1, 4, 4), 51, dtype=torch.uint8), torch.arange(2), ["a", "b"])
    options = {"batch_size": 2, "train": True, "augment": AugmentOptions(), "device": CPU, "seed": 0}
    [(x, _)] = list(make_loader(grey, stats=Stats((0.1,), (0.5,)), **options).batches(0))
    torch.testing.assert_close(x, torch.full((2, 1, 4, 4), (0.2 - 0.1) / 0.5))
    with pytest.raises(ConfigError, match=r"^normalisation statistics have 1 channels, the images 3$"):
        make_loader(images(2, 4, 4), stats=Stats((0.5,), STD), **options)
    with pytest.raises(ConfigError, match=r"^normalisation statistics have 3 channels"):
        make_loader(images(2, 4, 4), stats=Stats(MEAN, (0.5,)), **options)


def test_channel_normalisation_ignores_a_mean_image() -> None:
    split = images(2, 4, 4)
    loader = make_loader(
        split,
        batch_size=2,
        train=False,
        augment=AugmentOptions(normalize="channel"),
        device=CPU,
        seed=0,
        stats=Stats(MEAN, STD, torch.ones(3, 4, 4)),
    )
    [(x, _)] = list(loader.batches(0))
    torch.testing.assert_close(x, normalised(split))
