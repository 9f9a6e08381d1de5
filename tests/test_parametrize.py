"""What is learned per task: full-resolution pixels, or a coarse pixel grid over the initial images' fixed detail."""
import pytest
import torch

from synthgen.config import ConfigError, GenerateConfig
from synthgen.parametrize import SyntheticTask, upsample


def _task(factor: int, start: torch.Tensor) -> SyntheticTask:
    return SyntheticTask((0, 1), 3, (1, 28, 28), 10, "pixels", start, pixel_factor=factor)


def _roughness(delta: torch.Tensor) -> float:
    """Mean absolute difference between neighbouring pixels, per unit of the change's own size."""
    tv = (delta[..., 1:, :] - delta[..., :-1, :]).abs().mean() + (delta[..., :, 1:] - delta[..., :, :-1]).abs().mean()
    return float(tv / delta.abs().mean())


def test_a_coarse_grid_starts_at_the_initial_images_and_learns_only_smooth_changes():
    start = torch.randn(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    target = torch.randn(6, 1, 28, 28, generator=torch.Generator().manual_seed(1))  # a gradient full of fine detail
    moved = {}
    for factor in (1, 2):
        task = _task(factor, start)
        assert torch.allclose(task.images(), start, atol=1e-6)  # the data starts exactly at its initial images
        opt = torch.optim.SGD([task.pixels], lr=0.1)
        (task.images() * target).sum().backward()
        opt.step()
        moved[factor] = task.images().detach() - start
    assert _task(2, start).pixels.shape == (6, 1, 14, 14)  # 4x fewer learned values per image
    assert moved[2].abs().mean() > 0.01
    assert _roughness(moved[2]) < 0.5 * _roughness(moved[1])  # the coarse grid's step is smooth, full pixels' is not


def test_a_coarse_grid_covers_sizes_it_does_not_divide():
    start = torch.randn(2, 3, 9, 7, generator=torch.Generator().manual_seed(0))
    task = SyntheticTask((0,), 2, (3, 9, 7), 10, "pixels", start, pixel_factor=4)
    assert task.pixels.shape == (2, 3, 3, 2)
    assert torch.allclose(task.images(), start, atol=1e-6)
    assert torch.allclose(task.detail + upsample(task.pixels, (9, 7)), task.images())


def test_pixel_factor_is_checked():
    with pytest.raises(ConfigError, match="pixel_factor"):
        GenerateConfig(param="generator", pixel_factor=2)
    with pytest.raises(ConfigError, match="pixel_factor"):
        GenerateConfig(pixel_factor=0)
    with pytest.raises(ValueError, match="pixel_factor"):
        SyntheticTask((0,), 1, (1, 8, 8), 10, "generator", None, pixel_factor=2)
    assert GenerateConfig(pixel_factor=2).run_hash() != GenerateConfig(pixel_factor=1).run_hash()
