"""Translation metrics (pixforge.metrics.translation) against hand-computed values on tiny inputs."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pixforge.errors import BadInputError
from pixforge.metrics.translation import (LPIPS_LAYERS, VGGDistance, accuracy, compute_diversity,
                                          compute_label_accuracy, feature_distance, joint_marginals, pair_distances,
                                          pairwise_diversity, unit_channels)
from pixforge.models.classifier import ClassifierConfig, DigitClassifier, save_classifier
from pixforge.nn.vgg import VGGFeatures
from pixforge.registry import METRICS


def vectors(*rows) -> torch.Tensor:
    """Feature vectors as (N, C, 1, 1) maps."""
    return torch.tensor(rows, dtype=torch.float32)[..., None, None]


def test_feature_distance_by_hand():
    assert torch.allclose(unit_channels(vectors([3.0, 4.0])).flatten(), torch.tensor([0.6, 0.8]))
    # layer 1: one position, (3, 4) -> (0.6, 0.8) vs (1, 0): 0.16 + 0.64 = 0.8
    # layer 2: two positions: (1, 0) vs (0, 1) -> 2; (2, 0) vs (5, 0) -> the same unit vector -> 0; mean 1
    a2 = torch.tensor([[[[1.0, 2.0]], [[0.0, 0.0]]]])
    b2 = torch.tensor([[[[0.0, 5.0]], [[1.0, 0.0]]]])
    d = feature_distance([vectors([3.0, 4.0]), a2], [vectors([1.0, 0.0]), b2])
    assert d.shape == (1,) and d.item() == pytest.approx(1.8)


def test_pairwise_diversity_by_hand():
    # input 0: outputs (1, 0), (0, 1), (2, 0): unit pairs give 2, 0, 2 -> 4/3; input 1: three equal outputs -> 0
    outputs = torch.stack([vectors([1.0, 0.0], [0.0, 1.0], [2.0, 0.0]), vectors([1.0, 1.0], [1.0, 1.0], [1.0, 1.0])])
    assert pairwise_diversity(outputs, lambda x: [x]) == pytest.approx((4 / 3 + 0) / 2)
    same = torch.rand(1, 1, 3, 8, 8).expand(2, 4, -1, -1, -1)
    assert pairwise_diversity(same, lambda x: [x, x * 2]) == 0.0
    with pytest.raises(BadInputError, match="K >= 2"):
        pairwise_diversity(torch.rand(3, 1, 1, 4, 4), lambda x: [x])


def test_vgg_distance():
    torch.manual_seed(0)
    distance = VGGDistance(VGGFeatures("vgg16", LPIPS_LAYERS))
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    d = distance(a, b)
    assert d.shape == (2,) and (d > 0).all() and torch.allclose(d, distance(b, a))
    assert torch.all(distance(a, a) == 0)
    feats = distance.vgg((a + 1) / 2, LPIPS_LAYERS)  # [-1, 1] images go in as [0, 1]
    assert [f.shape[1] for f in distance.features(a)] == [64, 128, 256, 512, 512]
    assert all(torch.equal(f, feats[n]) for f, n in zip(distance.features(a), LPIPS_LAYERS))
    grey = a[:, :1]
    assert torch.equal(distance(grey, b[:, :1]), distance(grey.expand(-1, 3, -1, -1), b[:, :1].expand(-1, 3, -1, -1)))
    assert pairwise_diversity(torch.stack([a, b], 1), distance.features) == pytest.approx(d.mean().item(), rel=1e-5)


def test_compute_diversity_of_identical_outputs_is_zero():
    same = torch.rand(1, 1, 3, 16, 16).expand(2, 3, -1, -1, -1) * 2 - 1
    assert compute_diversity(same, weights=None, device="cpu") == 0.0
    assert METRICS.meta("diversity")["inputs"] == 1


def test_joint_marginals_and_accuracy():
    probs = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.0, 0.0, 0.5]])  # 2 domains x 2 labels
    p_domain, p_label = joint_marginals(probs, 2)
    assert np.allclose(p_domain, [[0.3, 0.7], [0.5, 0.5]]) and np.allclose(p_label, [[0.4, 0.6], [0.5, 0.5]])
    assert accuracy(p_domain, [1, 1]) == 0.5 and accuracy(p_label, [1, 0]) == 1.0
    with pytest.raises(BadInputError, match="not domains x 3"):
        joint_marginals(probs, 3)
    with pytest.raises(BadInputError, match="2 predictions for 1 labels"):
        accuracy(p_domain, [1])


def test_pair_distances_by_hand():
    # 1-D features. 0 -> 1: fake {0, 2} (mean 1, var 2) vs real domain 1 {3, 5} (mean 4, var 2):
    # FID = 3^2 + 2 + 2 - 2 sqrt(4) = 9. 1 -> 0: fake {0, 4} (mean 2, var 8) vs real {0, 2} (mean 1, var 2):
    # FID = 1 + 8 + 2 - 2 sqrt(16) = 3.
    fake = np.array([[0.0], [2.0], [0.0], [4.0]])
    real = np.array([[3.0], [0.0], [5.0], [2.0]])
    out = pair_distances(fake, [0, 0, 1, 1], [1, 1, 0, 0], real, [1, 0, 1, 0], names=("a", "b"), kid_subsets=3)
    assert list(out) == ["a->b", "b->a", "mean"]
    assert out["a->b"]["fid"] == pytest.approx(9) and out["b->a"]["fid"] == pytest.approx(3)
    assert out["mean"]["fid"] == pytest.approx(6)
    # KID with two samples each and the kernel (x y + 1)^3: k(0,2)=1, k(3,5)=4096, cross k(0,3)=k(0,5)=1,
    # k(2,3)=343, k(2,5)=1331: MMD^2 = 2 * (1 + 4096) / 2 - 2 * (1 + 1 + 343 + 1331) / 4 = 4097 - 838 = 3259
    assert out["a->b"]["kid"] == pytest.approx(3259) and out["a->b"]["kid_std"] == pytest.approx(0)
    with pytest.raises(BadInputError, match="differ in length"):
        pair_distances(fake, [0], [1], real, [1, 0, 1, 0])


def test_label_accuracy_with_a_classifier_file(tmp_path):
    torch.manual_seed(0)
    net = DigitClassifier(ClassifierConfig(in_channels=1, image_size=16, num_classes=4, width=4, feature_dim=8))
    path = save_classifier(net.eval(), tmp_path / "classifier.safetensors")
    images = torch.rand(12, 1, 16, 16) * 2 - 1
    with torch.no_grad():
        probs = torch.softmax(net(images)[1].double(), 1).numpy()
    joint = probs.reshape(12, 2, 2)
    labels, domains = joint.sum(1).argmax(1), joint.sum(2).argmax(1)
    spec = f"classifier:{path}"
    kw = {"device": "cpu", "progress": False}
    assert compute_label_accuracy(images, probs.argmax(1), spec, **kw) == 1.0
    assert compute_label_accuracy(images, labels, spec, num_labels=2, **kw) == 1.0
    assert compute_label_accuracy(images, domains, spec, num_labels=2, part="domain", **kw) == 1.0
    flipped = compute_label_accuracy(images, 1 - labels, spec, num_labels=2, **kw)
    assert math.isclose(flipped, 0.0)
    with pytest.raises(BadInputError, match="part must be"):
        compute_label_accuracy(images, labels, spec, num_labels=2, part="digit", **kw)
