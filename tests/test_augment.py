"""Light augmentation: each image moved by its own seeded offset of a few pixels."""

import pytest
import torch

from synthgen.nn.augment import random_shift, shift_by


def test_random_shift_moves_each_image_by_its_own_offset_within_the_bound():
    x = torch.randn(64, 2, 9, 7)
    g = torch.Generator().manual_seed(0)
    out = random_shift(x, 2, g)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="replicate")
    offsets = []
    for i in range(len(x)):  # exactly one of the 25 offsets gives each image
        hits = [(a, b) for a in range(5) for b in range(5) if torch.equal(out[i], padded[i, :, a : a + 9, b : b + 7])]
        assert len(hits) == 1
        offsets += hits
    assert len(set(offsets)) > 15  # drawn per image
    assert torch.equal(out, random_shift(x, 2, torch.Generator().manual_seed(0)))  # seeded


def test_torchvisions_edge_padded_random_crop_is_the_same_shift():
    """The card tells a consumer to shift with torchvision's RandomCrop(padding=p, padding_mode="edge"): each of its
    outputs is one of the shifts synthgen draws."""
    from torchvision.transforms import v2

    torch.manual_seed(0)
    x = torch.randn(1, 12, 10)
    crop = v2.RandomCrop((12, 10), padding=2, padding_mode="edge")
    ours = {
        (a, b): shift_by(x[None], 2, torch.tensor([[[a]], [[b]]]))[0] for a in range(5) for b in range(5)
    }  # fmt: skip
    seen = set()
    for _ in range(200):
        out = crop(x)
        hits = [k for k, v in ours.items() if torch.equal(out, v)]
        assert len(hits) == 1
        seen |= set(hits)
    assert len(seen) == 25  # every offset is drawn


def test_dsa_draws_one_family_per_batch_from_the_given_families_only():
    from synthgen.nn.augment import DSA_FAMILIES, NO_FLIP_FAMILIES, dsa_draw

    g = torch.Generator().manual_seed(0)
    start = {dsa_draw(4, g, NO_FLIP_FAMILIES).family for _ in range(200)}
    assert start == set(NO_FLIP_FAMILIES)  # every family drawn, never a mirror image
    assert {dsa_draw(4, g).family for _ in range(200)} == set(DSA_FAMILIES)
    assert all(len(v) == 4 for v in dsa_draw(4, g).params)  # one parameter row per image


def test_a_one_row_dsa_draw_gives_every_image_of_both_batches_the_same_transformation():
    """Siamese: the real and the synthetic batch of a matching step are transformed alike, whatever their sizes."""
    from synthgen.nn.augment import DSA_FAMILIES, DsaDraw, dsa_apply, dsa_draw

    g = torch.Generator().manual_seed(1)
    img = torch.randn(1, 1, 12, 12)
    families = set()
    for _ in range(60):
        draw = dsa_draw(1, g)
        families.add(draw.family)
        small, big = dsa_apply(img, draw), dsa_apply(img.expand(5, -1, -1, -1), draw)
        assert torch.allclose(big, small.expand(5, -1, -1, -1), atol=1e-6)
        if draw.family != "flip" or bool(draw.params[0]):
            assert not torch.allclose(small, img, atol=1e-3)  # it changes the image
    assert families == set(DSA_FAMILIES)
    with pytest.raises(ValueError, match="blur"):
        dsa_apply(img, DsaDraw("blur", ()))


def test_dsa_augment_draws_each_images_own_parameters_and_is_differentiable():
    from synthgen.nn.augment import dsa_augment

    x = torch.randn(1, 1, 12, 12).expand(8, -1, -1, -1).clone().requires_grad_(True)
    differ = 0
    for seed in range(12):
        out = dsa_augment(x, torch.Generator().manual_seed(seed))
        differ += not torch.allclose(out[0], out[1:], atol=1e-6)
        out.square().sum().backward()
    assert differ >= 9  # per image, except for the odd flip batch that mirrors all or none
    assert x.grad is not None and x.grad.abs().sum() > 0
