"""FID, KID and Inception Score against references: scipy sqrtm, closed forms, brute-force sums."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from pixforge.errors import BadInputError
from pixforge.metrics.fid import (feature_stats, fid_from_features, frechet_distance, inception_score,
                                  kernel_inception_distance, load_stats, polynomial_mmd2, save_stats)


def random_cov(rng, d, n=None):
    x = rng.normal(size=(n or 3 * d, d)) @ rng.normal(size=(d, d))
    return np.cov(x, rowvar=False)


def scipy_reference(mu1, s1, mu2, s2):
    """FID exactly as pytorch-fid writes it: ||mu1-mu2||^2 + Tr(s1) + Tr(s2) - 2 Tr(sqrtm(s1 s2))."""
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("d", [2, 16, 64])
def test_eig_path_matches_scipy_sqrtm(d):
    rng = np.random.default_rng(d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = random_cov(rng, d), random_cov(rng, d)
    ref = scipy_reference(mu1, s1, mu2, s2)
    for method in ("eig", "sqrtm"):
        assert frechet_distance(mu1, s1, mu2, s2, method=method) == pytest.approx(ref, rel=1e-6)


def test_fid_of_a_set_with_itself_is_zero():
    feats = np.random.default_rng(0).normal(size=(300, 32))
    assert abs(fid_from_features(feats, feats)) < 1e-8
    st = feature_stats(feats)
    assert abs(frechet_distance(st.mu, st.sigma, st.mu, st.sigma, method="sqrtm")) < 1e-6


def test_fid_of_diagonal_gaussians_has_the_closed_form():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=10), rng.normal(size=10)
    v1, v2 = rng.uniform(0.1, 3, size=10), rng.uniform(0.1, 3, size=10)
    expected = ((mu1 - mu2) ** 2).sum() + (v1 + v2 - 2 * np.sqrt(v1 * v2)).sum()
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-10)
    # and the estimate from samples approaches it
    x = rng.normal(size=(200_000, 10)) * np.sqrt(v1) + mu1
    y = rng.normal(size=(200_000, 10)) * np.sqrt(v2) + mu2
    assert fid_from_features(x, y) == pytest.approx(expected, rel=0.02)


def test_eig_path_is_stable_with_fewer_samples_than_dimensions():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(20, 64)), rng.normal(size=(20, 64))  # rank-deficient covariances
    value = fid_from_features(a, b)
    assert np.isfinite(value) and value > 0


def test_mismatched_statistics_are_refused():
    with pytest.raises(BadInputError, match="same feature extractor"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_stats_files_roundtrip_and_read_pytorch_fid_files(tmp_path):
    rng = np.random.default_rng(3)
    st = feature_stats(rng.normal(size=(50, 6)), features="classifier:x")
    loaded = load_stats(save_stats(st, tmp_path / "s.npz"))
    assert np.array_equal(loaded.mu, st.mu) and np.array_equal(loaded.sigma, st.sigma)
    assert loaded.features == "classifier:x" and loaded.count == 50
    # a file as pytorch-fid writes it: just mu and sigma (float32 there)
    np.savez_compressed(tmp_path / "pf.npz", mu=st.mu.astype(np.float32), sigma=st.sigma.astype(np.float32))
    pf = load_stats(tmp_path / "pf.npz")
    assert pf.features == "" and pf.mu.dtype == np.float64 and np.allclose(pf.sigma, st.sigma, atol=1e-6)
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(BadInputError, match="'mu' and 'sigma'"):
        load_stats(tmp_path / "other.npz")


def brute_force_mmd2(x, y):
    """Unbiased MMD^2 written out as the double sums of Gretton et al. with k(a, b) = (a.b/d + 1)^3."""
    m, d = x.shape
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_polynomial_mmd_matches_the_double_sums():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(12, 5)), rng.normal(size=(12, 5)) + 0.3
    assert polynomial_mmd2(x, y) == pytest.approx(brute_force_mmd2(x, y), rel=1e-10)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_a_shift():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
    same_mean, same_std = kernel_inception_distance(a, b, subsets=20, subset_size=300)
    shifted_mean, shifted_std = kernel_inception_distance(a, b + 0.5, subsets=20, subset_size=300)
    assert abs(same_mean) < 3 * same_std + 1e-3
    assert shifted_mean > 10 * max(abs(same_mean), same_std) and shifted_mean > 3 * shifted_std


def test_inception_score_bounds():
    classes, n = 10, 1000
    uniform = np.full((n, classes), 1.0 / classes)
    assert inception_score(uniform) == pytest.approx((1.0, 0.0), abs=1e-12)
    # confident predictions spread evenly over the classes in every split: IS = number of classes
    confident = np.eye(classes)[np.arange(n) % classes]
    mean, std = inception_score(confident, splits=10)
    assert mean == pytest.approx(classes, rel=1e-12) and std == pytest.approx(0, abs=1e-9)
    # confident but always the same class: back to 1
    assert inception_score(np.eye(classes)[np.zeros(n, int)])[0] == pytest.approx(1.0)
    rng = np.random.default_rng(6)
    logits = rng.normal(size=(n, classes)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert 1.0 < inception_score(probs)[0] < classes


def test_inception_score_needs_enough_samples():
    with pytest.raises(BadInputError):
        inception_score(np.full((5, 3), 1 / 3), splits=10)
