"""GAN losses against hand-computed values, and the regularisers on tiny hand cases."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from pixforge.config import recipe
from pixforge.errors import ConfigError
from pixforge.losses.adversarial import gan_losses, get_loss
from pixforge.losses.regularizers import gradient_penalty, orthogonal_penalty, r1_penalty
from pixforge.nn.spectral import apply_spectral_norm
from pixforge.tasks.gan import GanConfig
from pixforge.train.ema import EMA

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is faster


def sig(v):
    return 1 / (1 + math.exp(-v))


def mean(*xs):
    return sum(xs) / len(xs)


def test_bce_losses_match_log_formulas():
    d = -mean(math.log(sig(2.0)), math.log(sig(-1.0))) - mean(math.log(1 - sig(0.5)), math.log(1 - sig(-3.0)))
    for name in ("minimax", "nonsaturating"):
        assert get_loss(name).d_loss(REAL, FAKE).item() == pytest.approx(d, rel=1e-6)
    # minimax G minimises E log(1 - D(G(z))) (saturating); non-saturating minimises -E log D(G(z))
    assert get_loss("minimax").g_loss(FAKE).item() == pytest.approx(
        mean(math.log(1 - sig(0.5)), math.log(1 - sig(-3.0))), rel=1e-6)
    assert get_loss("nonsaturating").g_loss(FAKE).item() == pytest.approx(
        -mean(math.log(sig(0.5)), math.log(sig(-3.0))), rel=1e-6)


def test_bce_is_stable_for_huge_logits():
    big = torch.tensor([1e4, -1e4])
    for name in ("minimax", "nonsaturating"):
        loss = get_loss(name)
        assert torch.isfinite(loss.d_loss(big, -big)) and torch.isfinite(loss.g_loss(big))
    assert get_loss("nonsaturating").g_loss(torch.tensor([-1e4])).item() == pytest.approx(1e4)


def test_lsgan_wgan_hinge_values():
    ls = get_loss("lsgan")
    assert ls.d_loss(REAL, FAKE).item() == pytest.approx(0.5 * mean(1.0, 4.0) + 0.5 * mean(0.25, 9.0))
    assert ls.g_loss(FAKE).item() == pytest.approx(0.5 * mean(0.25, 16.0))
    for name in ("wgan", "wgan-gp"):
        w = get_loss(name)
        assert w.d_loss(REAL, FAKE).item() == pytest.approx(mean(0.5, -3.0) - mean(2.0, -1.0))
        assert w.g_loss(FAKE).item() == pytest.approx(1.25)
    h = get_loss("hinge")
    assert h.d_loss(REAL, FAKE).item() == pytest.approx(mean(0.0, 2.0) + mean(1.5, 0.0))
    assert h.g_loss(FAKE).item() == pytest.approx(1.25)


def test_paper_defaults_and_unknown_name():
    wgan, wgan_gp, hinge = (recipe(GanConfig, "gan", name) for name in ("wgan", "wgan-gp", "hinge"))
    assert (wgan.clip, wgan.optimizer, wgan.lr_d, wgan.n_critic) == (0.01, "rmsprop", 5e-5, 5)
    assert (wgan_gp.gp, wgan_gp.betas, wgan_gp.lr_d) == (10.0, (0.0, 0.9), 1e-4)
    assert (hinge.lr_g, hinge.lr_d) == (1e-4, 4e-4)
    assert set(gan_losses()) == {"minimax", "nonsaturating", "lsgan", "wgan", "wgan-gp", "hinge",
                                 "ragan", "ralsgan", "rahinge"}
    with pytest.raises(ConfigError, match="unknown GAN loss 'foo'"):
        get_loss("foo")


def test_gradient_penalty_of_a_linear_critic():
    w = torch.tensor([3.0, 4.0])  # ‖∇D‖ = 5 everywhere -> (5 - 1)^2 = 16
    gp = gradient_penalty(lambda x: x @ w, torch.randn(6, 2), torch.randn(6, 2))
    assert gp.item() == pytest.approx(16.0)
    unit = gradient_penalty(lambda x: x @ (w / 5), torch.randn(6, 2), torch.randn(6, 2))
    assert unit.item() == pytest.approx(0.0, abs=1e-10)


def test_gradient_penalty_is_differentiable_wrt_critic_weights():
    lin = nn.Linear(2, 1)
    gp = gradient_penalty(lambda x: lin(x).squeeze(1), torch.randn(4, 2), torch.randn(4, 2))
    gp.backward()
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0


def test_r1_penalty_of_a_quadratic_critic():
    x = torch.tensor([[1.0, 2.0], [0.0, -1.0]])  # D = Σx² -> ∇ = 2x -> ‖∇‖² = 4‖x‖² = 20, 4 -> mean 12
    assert r1_penalty(lambda v: (v ** 2).sum(1), x).item() == pytest.approx(12.0)


def test_orthogonal_penalty_hand_case():
    m = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        m.weight.copy_(torch.tensor([[1.0, 1.0], [1.0, 0.0]]))  # WWᵀ = [[2, 1], [1, 1]]: off-diagonal 1, 1
    assert orthogonal_penalty(m, beta=0.5).item() == pytest.approx(0.5 * 2.0)
    with torch.no_grad():
        m.weight.copy_(torch.tensor([[3.0, 0.0], [0.0, -2.0]]))  # orthogonal rows, any norms -> 0
    assert orthogonal_penalty(m).item() == 0.0


def test_ema_math_and_warmup():
    model = nn.Linear(1, 1, bias=False)
    ema = EMA(model, decay=0.9, start=2)
    for step, value in enumerate([1.0, 2.0, 3.0, 5.0]):
        with torch.no_grad():
            model.weight.fill_(value)
        ema.update(model, step)
        if step == 1:  # still warming up: a copy
            assert ema.module.weight.item() == pytest.approx(2.0)
    # step 2: 0.9*2 + 0.1*3 = 2.1; step 3: 0.9*2.1 + 0.1*5 = 2.39
    assert ema.module.weight.item() == pytest.approx(2.39)
    assert not ema.module.weight.requires_grad


def test_ema_decay_warms_up_to_its_value():
    model = nn.Linear(1, 1, bias=False)
    ema = EMA(model, decay=0.999, warmup=True)
    assert [ema.decay_at(s) for s in (0, 1, 10)] == pytest.approx([0.1, 2 / 11, 11 / 20])
    assert ema.decay_at(8989) < 0.999 and ema.decay_at(8990) == pytest.approx(0.999)
    assert ema.decay_at(10**6) == 0.999 and EMA(model, 0.999).decay_at(0) == 0.999  # off by default
    with torch.no_grad():
        model.weight.fill_(0.0)
        ema.module.weight.fill_(1.0)  # the initial weights
    for step in range(100):
        ema.update(model, step)
    # the initial weight's share after 100 steps: prod (1 + s) / (10 + s) = 9! 100! / 109! (0.999^100 = 0.905 without)
    assert ema.module.weight.item() == pytest.approx(math.factorial(9) / math.prod(range(101, 110)), rel=1e-3)


def test_ema_copies_buffers():
    model = nn.BatchNorm1d(3)
    ema = EMA(model, 0.5)
    model(torch.randn(8, 3) + 10)
    ema.update(model, 0)
    assert torch.equal(ema.module.running_mean, model.running_mean)


def test_spectral_norm_bounds_top_singular_value():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 32), nn.Conv2d(3, 8, 3))
    with torch.no_grad():
        net[0].weight.mul_(10)
    apply_spectral_norm(net)
    for _ in range(30):  # power iterations run in training forwards
        net[0](torch.randn(2, 16))
    sigma = torch.linalg.matrix_norm(net[0].weight.detach(), ord=2).item()
    assert sigma == pytest.approx(1.0, abs=0.02)
    assert torch.nn.utils.parametrize.is_parametrized(net[1], "weight")
