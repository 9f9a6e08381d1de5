"""Patch moments: they are what a first 3x3 convolution sees, and the loss pulls images onto them."""
import torch
import torch.nn.functional as F

from synthgen.moments import class_moments, moment_loss, patch_moments


def test_patch_moments_give_any_first_convolutions_mean_and_variance():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 2, 9, 9, generator=g) * 1.5 + 0.3
    w = torch.randn(4, 2, 3, 3, generator=g)
    out = F.conv2d(x, w, padding=1).transpose(0, 1).reshape(4, -1)  # every channel's outputs over images and positions
    mu, m = patch_moments(x)
    flat = w.reshape(4, -1)
    assert torch.allclose(out.mean(1), flat @ mu, atol=1e-4)
    cov = m - torch.outer(mu, mu)
    assert torch.allclose(out.var(1, unbiased=False), torch.einsum("cd,de,ce->c", flat, cov, flat), rtol=1e-4)


def test_moment_loss_is_zero_on_the_targets_own_images_and_descends():
    g = torch.Generator().manual_seed(1)
    real = torch.randn(40, 1, 8, 8, generator=g)
    labels = torch.arange(2).repeat_interleave(20)
    targets = class_moments(real, labels, [0, 1])
    assert float(moment_loss(real, labels, targets)) < 1e-8
    synth = (torch.randn(10, 1, 8, 8, generator=g) * 0.3).requires_grad_()
    synth_labels = torch.arange(2).repeat_interleave(5)
    start = float(moment_loss(synth, synth_labels, targets))
    opt = torch.optim.Adam([synth], lr=0.05)
    for _ in range(100):
        opt.zero_grad()
        moment_loss(synth, synth_labels, targets).backward()
        opt.step()
    assert float(moment_loss(synth, synth_labels, targets)) < 0.1 * start
