"""Where the synthetic images start: random real images, or k-means centroids of each class."""

import pytest
import torch

from synthgen.core.config import ConfigError
from synthgen.core.seeding import generator
from synthgen.data.sources import normalise
from synthgen.generation.config import GenerateConfig
from synthgen.generation.engine import Engine
from synthgen.generation.initial_images import InitError, initial_images, kmeans_centroids

from .conftest import tiny_config


def test_kmeans_finds_the_means_of_separated_blobs():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    blobs = [c + torch.randn(40, 2, generator=g) for c in centres]
    points = torch.cat(blobs)
    start = torch.stack([blobs[0][0], blobs[1][0], blobs[2][0]])  # one member of each blob
    got = kmeans_centroids(points, start)
    want = torch.stack([b.mean(0) for b in blobs])
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(start, want, atol=0.1)  # the start was not already the answer


def test_kmeans_keeps_a_centroid_that_owns_no_point():
    points = torch.tensor([[0.0], [1.0], [2.0]])
    start = torch.tensor([[1.0], [100.0]])
    got = kmeans_centroids(points, start)
    assert got.tolist() == [[1.0], [100.0]]


def test_kmeans_is_bit_identical_across_thread_counts():
    g = torch.Generator().manual_seed(1)
    points = torch.randn(300, 784, generator=g)
    start = points[:10].clone()
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = kmeans_centroids(points, start)
        torch.set_num_threads(2)
        two = kmeans_centroids(points, start)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, two)


def test_kmeans_start_is_a_fixed_point_of_each_class(mnist5k):
    x, y = mnist5k.split("train")
    x = normalise(x, mnist5k.normalisation())
    imgs = initial_images(x, y, (3, 8), 5, "kmeans", generator(0, "init", 0))
    real = initial_images(x, y, (3, 8), 5, "real", generator(0, "init", 0))
    assert imgs.shape == real.shape == (10, 1, 28, 28)
    for k, c in enumerate((3, 8)):
        cent = imgs[5 * k : 5 * (k + 1)].flatten(1)
        pts = x[y == c].flatten(1)
        owner = torch.cdist(pts.double(), cent.double()).argmin(1)
        assert torch.bincount(owner, minlength=5).min() > 0
        means = torch.stack([pts[owner == j].mean(0) for j in range(5)])
        assert torch.allclose(means, cent, atol=1e-5)  # Lloyd converged: each centroid is its points' mean
    assert not torch.allclose(imgs, real, atol=0.05)  # and it moved away from the random images it started from


def test_engine_starts_from_the_configured_images(mnist5k):
    eng = Engine(tiny_config(init="kmeans"), source=mnist5k)
    x, y = mnist5k.split("train")
    want = initial_images(normalise(x, mnist5k.normalisation()), y, (0, 1), 5, "kmeans", generator(0, "init", 0))
    assert torch.equal(eng.synth[0].pixels.detach(), want)


def test_unknown_init_is_refused():
    with pytest.raises(ConfigError, match="init: Input should be 'real', 'kmeans', 'noise' or 'dm'"):
        GenerateConfig(init="centroids")
    with pytest.raises(InitError, match="unknown init 'centroids'"):
        initial_images(
            torch.zeros(4, 1, 2, 2),
            torch.tensor([0, 0, 1, 1]),
            (0, 1),
            1,
            "centroids",
            torch.Generator().manual_seed(0),
        )
