"""Improved precision/recall, density and coverage on toy Gaussians with known answers."""
from __future__ import annotations

import numpy as np
import pytest

from pixforge.errors import BadInputError
from pixforge.metrics.prdc import knn_radii, precision_recall


def gaussians(seed, n=600, d=4, shift=0.0):
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


def test_identical_sets_are_perfect():
    x = gaussians(0)
    r = precision_recall(x, x.copy())
    assert r["precision"] == 1.0 and r["recall"] == 1.0 and r["coverage"] == 1.0


def test_two_samples_of_one_distribution_score_high():
    r = precision_recall(gaussians(1), gaussians(2))
    assert r["precision"] > 0.8 and r["recall"] > 0.8 and 0.7 < r["density"] < 1.3 and r["coverage"] > 0.8


def test_disjoint_sets_score_zero():
    r = precision_recall(gaussians(3), gaussians(4, shift=50.0))
    assert r == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_mode_dropping_keeps_precision_and_loses_recall():
    real = np.concatenate([gaussians(5, 400), gaussians(6, 400, shift=20.0)])
    fake = gaussians(7, 400)  # only the first of the two modes
    r = precision_recall(real, fake)
    assert r["precision"] > 0.8
    assert 0.35 < r["recall"] < 0.55 and 0.35 < r["coverage"] < 0.55


def test_knn_radius_excludes_the_point_itself():
    points = np.array([[0.0], [1.0], [3.0], [6.0]])
    import torch

    radii = knn_radii(torch.tensor(points), k=1)
    assert radii.tolist() == [1.0, 1.0, 2.0, 3.0]


def test_needs_more_samples_than_k():
    with pytest.raises(BadInputError):
        precision_recall(np.zeros((3, 2)), np.zeros((10, 2)), k=3)
