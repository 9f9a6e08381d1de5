"""Light augmentation: each image moved by its own seeded offset of a few pixels."""

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
