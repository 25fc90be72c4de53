"""Mode coverage on ring8/grid25 and Stacked MNIST with synthetic samples whose answers are known."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pixforge.errors import BadInputError
from pixforge.metrics.modes import get_mixture, kl_to_uniform, mixture_modes, stacked_mnist_modes
from pixforge.registry import DATASETS


def test_mixture_definitions():
    ring, grid = get_mixture("ring8"), get_mixture("grid25")
    assert np.allclose(np.linalg.norm(ring.centres, axis=1), 2.0) and len(ring.centres) == 8 and ring.std == 0.02
    assert sorted(set(grid.centres[:, 0])) == [-4, -2, 0, 2, 4] and len(grid.centres) == 25 and grid.std == 0.05


def test_samples_at_20_of_25_centres():
    centres = get_mixture("grid25").centres
    samples = np.repeat(centres[:20], 10, axis=0)
    r = mixture_modes(samples, "grid25")
    assert r["modes"] == 20 and r["high_quality"] == 1.0
    assert r["kl"] == pytest.approx(np.log(25 / 20))  # uniform over 20 of 25 modes


def test_mixture_samples_cover_every_mode_with_high_quality():
    rng = np.random.default_rng(0)
    for name, mix in ((n, get_mixture(n)) for n in DATASETS.list(kind="mixture")):
        idx = rng.integers(0, len(mix.centres), 5000)
        samples = mix.centres[idx] + rng.normal(size=(5000, 2)) * mix.std
        r = mixture_modes(samples, name)
        assert r["modes"] == len(mix.centres)
        assert r["high_quality"] > 0.98  # P(|z| < 3) in 2D is 1 - exp(-4.5) = 0.989
        assert r["kl"] < 0.01


def test_uniform_noise_is_low_quality():
    samples = np.random.default_rng(1).uniform(-5, 5, size=(5000, 2))
    r = mixture_modes(samples, "grid25")
    # 25 discs of radius 0.15 cover 25*pi*0.15^2/100 = 1.8% of the square
    assert r["high_quality"] < 0.05


def test_points_beyond_three_std_are_not_counted():
    ring = get_mixture("ring8")
    r = mixture_modes(ring.centres + np.array([0.0, 3.5 * ring.std]), "ring8")
    assert r["modes"] == 0 and r["high_quality"] == 0.0 and r["kl"] == float("inf")


def test_bad_shapes():
    with pytest.raises(BadInputError):
        mixture_modes(np.zeros((4, 3)), "ring8")
    with pytest.raises(BadInputError):
        mixture_modes(np.zeros((4, 2)), "ring9")


class StubDigitReader(torch.nn.Module):
    """A 'classifier' reading the digit written as the image's mean brightness: (mean + 1) * 4.5 -> 0..9."""

    class cfg:
        in_channels, num_classes = 1, 10

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        digit = ((x.mean(dim=(1, 2, 3)) + 1) * 4.5).round().long()
        return None, torch.nn.functional.one_hot(digit, 10).float()


def stacked(triples, size=8):
    levels = torch.tensor(triples, dtype=torch.float32) / 4.5 - 1  # digit -> brightness
    return levels[:, :, None, None].expand(-1, -1, size, size).contiguous()


def test_stacked_mnist_counts_modes_from_the_three_channels():
    triples = [(a, b, c) for a in range(10) for b in range(10) for c in range(10)]
    r = stacked_mnist_modes(stacked(triples), StubDigitReader(), batch_size=128, progress=False)
    assert r["modes"] == 1000 and r["kl"] == pytest.approx(0, abs=1e-12)
    few = [(1, 2, 3)] * 50 + [(3, 2, 1)] * 50
    r = stacked_mnist_modes(stacked(few), StubDigitReader(), progress=False)
    assert r["modes"] == 2 and r["kl"] == pytest.approx(np.log(500))


def test_kl_to_uniform():
    assert kl_to_uniform(np.array([5, 5, 5, 5])) == 0
    assert kl_to_uniform(np.array([1, 0, 0, 0])) == pytest.approx(np.log(4))
