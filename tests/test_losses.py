"""The loss library against hand-computed values: relativistic and multi-scale adversarial losses, feature
matching, lazy R1, path length, pixel losses, the VGG perceptual loss, the registry and the GAN recipes."""
from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from pixforge.config import recipe
from pixforge.errors import ConfigError
from pixforge.losses.adversarial import feature_matching_loss, gan_losses, get_loss
from pixforge.losses.perceptual import VGGPerceptualLoss, gram, style_stat_loss
from pixforge.losses.pixel import charbonnier_loss, l1_loss, l2_loss
from pixforge.losses.regularizers import lazy_adam, lazy_r1_penalty, lazy_scale, path_length_penalty, r1_penalty
from pixforge.registry import LOSSES
from pixforge.tasks.gan import GanConfig, resolve

pytestmark = pytest.mark.usefixtures("one_thread")

REAL = torch.tensor([2.0, -1.0])  # mean 0.5
FAKE = torch.tensor([0.5, -3.0])  # mean -1.25
# D_Ra(real, fake) = REAL - mean(FAKE) = [3.25, 0.25]; D_Ra(fake, real) = FAKE - mean(REAL) = [0, -3.5]
REAL_RA, FAKE_RA = (3.25, 0.25), (0.0, -3.5)


def softplus(v):
    return math.log1p(math.exp(v))


def mean(xs):
    return sum(xs) / len(xs)


# ------------------------------------------------------------------------------------------------ adversarial
def test_relativistic_losses_on_known_logits():
    ragan = get_loss("ragan")  # BCE: f1 = -log σ = softplus(-x), f0 = -log(1-σ) = softplus(x)
    d = (mean([softplus(-x) for x in REAL_RA]) + mean([softplus(x) for x in FAKE_RA])) / 2
    g = (mean([softplus(-x) for x in FAKE_RA]) + mean([softplus(x) for x in REAL_RA])) / 2
    assert ragan.d_loss(REAL, FAKE).item() == pytest.approx(d, rel=1e-6)
    assert ragan.g_loss(FAKE, REAL).item() == pytest.approx(g, rel=1e-6)
    # RaLSGAN: ½[mean((3.25-1)², (0.25-1)²) + mean((0+1)², (-3.5+1)²)] = ½[2.8125 + 3.625]
    assert get_loss("ralsgan").d_loss(REAL, FAKE).item() == pytest.approx(3.21875)
    assert get_loss("ralsgan").g_loss(FAKE, REAL).item() == pytest.approx((10.625 + 9.8125) / 2)
    # RaHinge: ½[mean(0, 0.75) + mean(1, 0)], G: ½[mean(1, 4.5) + mean(4.25, 1.25)]
    assert get_loss("rahinge").d_loss(REAL, FAKE).item() == pytest.approx(0.4375)
    assert get_loss("rahinge").g_loss(FAKE, REAL).item() == pytest.approx(2.75)
    with pytest.raises(ValueError, match="needs D\\(real\\)"):
        ragan.g_loss(FAKE)
    assert [n for n in gan_losses() if LOSSES.meta(n)["relativistic"]] == ["ragan", "ralsgan", "rahinge"]


def test_relativistic_d_loss_differentiates_through_both_means():
    real = REAL.clone().requires_grad_(True)
    get_loss("ralsgan").d_loss(real, FAKE).backward()
    # ∂/∂real₀ of ½[mean((r - m_f - 1)²) + mean((f - m_r + 1)²)] = ½[2.25 + 0.75] (the second: -½·Σ(f - m_r + 1))
    assert real.grad[0].item() == pytest.approx(1.5)


def test_non_relativistic_g_loss_ignores_real():
    hinge = get_loss("hinge")
    assert hinge.g_loss(FAKE, REAL).item() == hinge.g_loss(FAKE).item() == pytest.approx(1.25)


def test_lists_of_scales_are_averaged():
    other_real, other_fake = torch.tensor([0.0, 3.0]), torch.tensor([1.0, 2.0])
    features = torch.randn(2, 4)  # intermediate features before the output: ignored by the losses
    real = [REAL, [features, other_real]]
    fake = [[features, FAKE], other_fake]
    for name in ("hinge", "nonsaturating", "lsgan", "wgan-gp", "ragan"):
        loss = get_loss(name)
        d = (loss.d_loss(REAL, FAKE) + loss.d_loss(other_real, other_fake)) / 2
        assert loss.d_loss(real, fake).item() == pytest.approx(d.item(), rel=1e-6)
        g = (loss.g_loss(FAKE, REAL) + loss.g_loss(other_fake, other_real)) / 2
        assert loss.g_loss(fake, real).item() == pytest.approx(g.item(), rel=1e-6)
    # hinge by hand: scale 1 mean(0, 2) + mean(1.5, 0) = 1.75; scale 2 mean(1, 0) + mean(2, 3) = 3
    assert get_loss("hinge").d_loss(real, fake).item() == pytest.approx((1.75 + 3.0) / 2)
    with pytest.raises(ValueError, match="numbers of scales"):
        get_loss("hinge").d_loss(real, [FAKE])


def test_feature_matching_on_given_feature_lists():
    def full(v, shape=(1, 2, 3, 3)):
        return torch.full(shape, float(v))

    real = [[full(1), full(0), full(100)], [full(2, (1, 4, 2, 2)), full(-100)]]  # last: D's output, unused
    fake = [[full(3), full(0.5), full(-100)], [full(-2, (1, 4, 2, 2)), full(100)]]
    fake = [[f.requires_grad_(True) for f in scale] for scale in fake]
    real = [[r.requires_grad_(True) for r in scale] for scale in real]
    loss = feature_matching_loss(real, fake)
    # scale 1: mean(|1-3|, |0-0.5|) = 1.25; scale 2: |2+2| = 4
    assert loss.item() == pytest.approx((1.25 + 4.0) / 2)
    loss.backward()
    assert real[0][0].grad is None and fake[0][0].grad is not None  # real features are detached
    one_d = feature_matching_loss([full(1), full(0), full(9)], [full(3), full(0.5), full(-9)])
    assert one_d.item() == pytest.approx(1.25)  # one list of tensors = one discriminator


# ------------------------------------------------------------------------------------------------ regularisers
def test_lazy_r1_scaling():
    x = torch.tensor([[1.0, 2.0], [0.0, -1.0]])  # D = Σx²: R1 = mean(4‖x‖²) = 12
    critic = lambda v: (v ** 2).sum(1)  # noqa: E731
    assert r1_penalty(critic, x).item() == pytest.approx(12.0)
    values = [lazy_r1_penalty(critic, x, step, every=4) for step in range(9)]
    assert [v is None for v in values] == [False, True, True, True, False, True, True, True, False]
    assert values[0].item() == values[8].item() == pytest.approx(4 * 12.0)
    assert [lazy_scale(s, 16) for s in (0, 1, 15, 16, 32)] == [16, 0, 0, 16, 16]
    assert all(lazy_scale(s, 1) == 1 for s in range(5))
    lr, betas = lazy_adam(2e-3, (0.0, 0.99), 16)
    assert lr == pytest.approx(2e-3 * 16 / 17) and betas == pytest.approx((0.0, 0.99 ** (16 / 17)))
    with pytest.raises(ValueError):
        lazy_scale(3, 0)


def test_path_length_penalty_of_a_linear_map():
    a = torch.tensor([[1.0, 0, 0], [0, 2, 0], [0, 0, 0], [0, 0, 3]], requires_grad=True)  # G(w) = A w as 1x2x2
    w = torch.randn(2, 3, requires_grad=True)
    fake = (w @ a.t()).reshape(2, 1, 2, 2)
    y = torch.tensor([[2.0, 1, 5, 0], [0, 0, 0, 2]]).reshape(2, 1, 2, 2)
    # Jᵀ(y/√(H·W)) = Aᵀy/2: [1, 1, 0] (length √2) and [0, 0, 3] (length 3)
    penalty, new_mean = path_length_penalty(fake, w, mean=0.5, noise=y)
    expect_mean = 0.5 + 0.01 * ((math.sqrt(2) + 3) / 2 - 0.5)
    assert new_mean.item() == pytest.approx(expect_mean)
    assert not new_mean.requires_grad
    assert penalty.item() == pytest.approx(mean([(math.sqrt(2) - expect_mean) ** 2, (3 - expect_mean) ** 2]))
    penalty.backward()
    assert a.grad is not None and a.grad.abs().sum() > 0  # the penalty trains G
    # W+ latents (N, L, D): G = A w₀ + 2A w₁ -> length √((|Aᵀỹ|² + 4|Aᵀỹ|²)/2)
    ws = torch.randn(1, 2, 3, requires_grad=True)
    fake = (ws[:, 0] @ a.t() + ws[:, 1] @ (2 * a).t()).reshape(1, 1, 2, 2)
    _, m = path_length_penalty(fake, ws, mean=0.0, decay=1.0, noise=y[:1])
    assert m.item() == pytest.approx(math.sqrt(2.5 * 2))


# ------------------------------------------------------------------------------------------------ pixel
def test_pixel_losses_on_a_known_difference():
    pred, target = torch.tensor([0.0, 3.0]), torch.tensor([0.0, -1.0])
    assert l1_loss(pred, target).item() == pytest.approx(2.0)
    assert l2_loss(pred, target).item() == pytest.approx(8.0)
    assert charbonnier_loss(pred, target, eps=1e-3).item() == pytest.approx(
        mean([math.sqrt(1e-6), math.sqrt(16 + 1e-6)]))
    # the default eps 1e-6 is BasicSR's sqrt(d² + 1e-12)
    assert charbonnier_loss(pred, pred).item() == pytest.approx(1e-6)


def test_mean_std_style_loss_by_hand():
    feats = {"a": torch.tensor([1.0, 3.0]).reshape(1, 1, 1, 2)}  # mean 2, std √(1 + 1e-5)
    target = {"a": torch.zeros(1, 1, 1, 2)}  # mean 0, std √1e-5
    expect = 4.0 + (math.sqrt(1 + 1e-5) - math.sqrt(1e-5)) ** 2
    assert style_stat_loss(feats, target).item() == pytest.approx(expect, rel=1e-5)


# ------------------------------------------------------------------------------------------------ VGG perceptual
@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(2, 3, 16, 16, generator=g), torch.rand(2, 3, 16, 16, generator=g)


def test_vgg_perceptual_is_the_weighted_sum_of_layer_losses(images):
    x, y = images
    weights = {"conv1_2": 0.5, "relu2_1": 2.0}
    torch.manual_seed(0)
    loss = VGGPerceptualLoss(weights, criterion="l2", perceptual_weight=3.0, style_weight=10.0, weights=None)
    fx, fy = loss.vgg(x), loss.vgg(y)
    perceptual = sum(w * F.mse_loss(fx[k], fy[k]) for k, w in weights.items())
    style = sum(w * F.mse_loss(gram(fx[k]), gram(fy[k])) for k, w in weights.items())
    terms = loss.terms(x, y)
    assert terms["perceptual"].item() == pytest.approx(3.0 * perceptual.item(), rel=1e-5)
    assert terms["style"].item() == pytest.approx(10.0 * style.item(), rel=1e-5)
    assert loss(x, y).item() == pytest.approx(3.0 * perceptual.item() + 10.0 * style.item(), rel=1e-5)
    xg = x.clone().requires_grad_(True)
    yg = y.clone().requires_grad_(True)
    loss(xg, yg).backward()
    assert xg.grad.abs().sum() > 0 and yg.grad is None  # the target's features carry no gradient
    assert list(loss.terms(x, y)) == ["perceptual", "style"]
    assert list(VGGPerceptualLoss({"relu1_1": 1.0}, weights=None).terms(x, y)) == ["perceptual"]
    with pytest.raises(ConfigError, match="unknown perceptual criterion 'l3'"):
        VGGPerceptualLoss(weights, criterion="l3", weights=None)


def test_vgg_perceptual_before_or_after_activation(images):
    x, y = images
    torch.manual_seed(0)
    before = VGGPerceptualLoss({"conv1_1": 1.0}, weights=None)
    torch.manual_seed(0)
    after = VGGPerceptualLoss({"relu1_1": 1.0}, criterion="charbonnier", weights=None)  # the same conv1_1
    cx, cy = before.vgg(x)["conv1_1"], before.vgg(y)["conv1_1"]
    assert cx.min() < 0  # before the activation
    assert torch.equal(after.vgg(x)["relu1_1"], F.relu(cx))
    assert before(x, y).item() == pytest.approx(F.l1_loss(cx, cy).item(), rel=1e-6)
    assert after(x, y).item() == pytest.approx(charbonnier_loss(F.relu(cx), F.relu(cy)).item(), rel=1e-6)


def test_domain_invariant_vgg_loss_by_hand():
    """MUNIT's compute_vgg_loss: mean squared difference of instance-normalised relu5_3 of a VGG16 that has no
    fourth max pool, the target without gradient; grey images taken as RGB."""
    from pixforge.losses.perceptual import DomainInvariantVGGLoss

    torch.manual_seed(0)
    loss = DomainInvariantVGGLoss(weights=None)
    convs = [m for m in loss.vgg.features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 13  # conv1_1 ... conv5_3

    def features(x):  # the MUNIT release's Vgg16.forward, written out
        h = loss.vgg.normalize((x.expand(-1, 3, -1, -1) + 1) / 2)
        for i, conv in enumerate(convs):
            h = F.relu(conv(h))
            if i in (1, 3, 6):  # pools after conv1_2, conv2_2, conv3_3 only
                h = F.max_pool2d(h, 2, 2)
        mean, var = h.mean((2, 3), keepdim=True), h.var((2, 3), unbiased=False, keepdim=True)
        return (h - mean) / (var + 1e-5).sqrt()

    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1, torch.rand(2, 1, 32, 32, generator=g) * 2 - 1
    assert loss.features(x).shape == (2, 512, 4, 4)  # 1/8 of the image: no pool4
    expected = (features(x) - features(y)).pow(2).mean()
    xg, yg = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
    value = loss(xg, yg)
    assert value.item() == pytest.approx(expected.item(), rel=1e-4)
    value.backward()
    assert xg.grad.abs().sum() > 0 and yg.grad is None
    assert loss(x, x).item() == pytest.approx(0.0, abs=1e-8)


# ------------------------------------------------------------------------------------------------ registry, recipes
def test_registry_lists_every_loss_by_family():
    assert LOSSES.list(family="adversarial") == [
        "minimax", "nonsaturating", "lsgan", "wgan", "wgan-gp", "hinge", "ragan", "ralsgan", "rahinge",
        "feature-matching"]
    assert LOSSES.list(family="regularizer") == ["gradient-penalty", "r1", "path-length", "orthogonal", "kl-normal"]
    assert LOSSES.list(family="perceptual") == ["content", "gram-style", "mean-std-style", "vgg-perceptual",
                                                "vgg-distance", "vgg-domain-invariant"]
    assert LOSSES.list(family="pixel") == ["l1", "l2", "charbonnier", "tv"]
    assert LOSSES.get("l2") is F.mse_loss and LOSSES.get("hinge") is get_loss("hinge")
    assert isinstance(LOSSES.create("vgg-perceptual", layer_weights={"relu1_1": 1.0}, weights=None),
                      VGGPerceptualLoss)
    with pytest.raises(ConfigError, match="unknown loss 'nope'; known: minimax"):
        LOSSES.get("nope")
    with pytest.raises(ConfigError, match="unknown GAN loss 'l1'; known: minimax, .*rahinge$"):
        get_loss("l1")


#: GanLoss's paper defaults before the recipes moved to YAML: (optimizer, lr_g, lr_d, betas, n_critic, gp, clip).
OLD_DEFAULTS = {
    "minimax": ("adam", 2e-4, 2e-4, (0.5, 0.999), 1, 0.0, 0.0),
    "nonsaturating": ("adam", 2e-4, 2e-4, (0.5, 0.999), 1, 0.0, 0.0),
    "lsgan": ("adam", 2e-4, 2e-4, (0.5, 0.999), 1, 0.0, 0.0),
    "wgan": ("rmsprop", 5e-5, 5e-5, (0.5, 0.999), 5, 0.0, 0.01),
    "wgan-gp": ("adam", 1e-4, 1e-4, (0.0, 0.9), 5, 10.0, 0.0),
    "hinge": ("adam", 1e-4, 4e-4, (0.0, 0.9), 1, 0.0, 0.0),
}
RECIPE_FIELDS = ("optimizer", "lr_g", "lr_d", "betas", "n_critic", "gp", "clip")


def test_recipes_equal_the_old_defaults_and_fill_the_config():
    for name, old in OLD_DEFAULTS.items():
        paper = recipe(GanConfig, "gan", name)
        assert tuple(getattr(paper, f) for f in RECIPE_FIELDS) == old, name
        resolved = resolve(GanConfig(loss=name), (2,))
        assert tuple(getattr(resolved, f) for f in RECIPE_FIELDS) == old, name
        assert all(type(a) is type(b) for a, b in zip(map(lambda f: getattr(resolved, f), RECIPE_FIELDS), old))
    for name in gan_losses():  # every GAN loss has a complete recipe
        paper = recipe(GanConfig, "gan", name)
        assert None not in (getattr(paper, f) for f in RECIPE_FIELDS), name
    assert resolve(GanConfig(loss="hinge", lr_d=1e-3, gp=1.0), (2,)).lr_d == 1e-3  # the user's value wins
    with pytest.raises(ConfigError, match="unknown GAN loss 'nope'"):
        resolve(GanConfig(loss="nope"), (2,))


def test_recipes_ship_with_the_package():
    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["pixforge"]
    shipped = {p.relative_to(root / "pixforge") for pattern in patterns for p in (root / "pixforge").glob(pattern)}
    recipes = {p.relative_to(root / "pixforge") for p in (root / "pixforge" / "configs" / "gan").rglob("*.yaml")}
    assert recipes and recipes <= shipped
