"""GAN architectures: parameter counts, shapes (conditional, attention), truncation, slerp."""
from __future__ import annotations

import pytest
import torch

from pixforge.errors import ConfigError
from pixforge.models.gan import create_discriminator, create_generator, slerp, truncated_noise
from pixforge.nn.attention import SelfAttention


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is faster


def count(m):
    return sum(p.numel() for p in m.parameters())


def test_dcgan_64_parameter_counts_match_radford_layout():
    # G: ConvT 100->512 (4x4), 512->256, 256->128, 128->64, 64->3 (no biases) + BN γ/β on 512+256+128+64
    g_hand = (100 * 512 + 512 * 256 + 256 * 128 + 128 * 64 + 64 * 3) * 16 + 2 * (512 + 256 + 128 + 64)
    # D: Conv 3->64, 64->128, 128->256, 256->512, 512->1 (4x4, no biases) + BN on 128+256+512
    d_hand = (3 * 64 + 64 * 128 + 128 * 256 + 256 * 512 + 512 * 1) * 16 + 2 * (128 + 256 + 512)
    assert (g_hand, d_hand) == (3_576_704, 2_765_568)  # the PyTorch DCGAN tutorial's numbers
    assert count(create_generator("dcgan", 100, (3, 64, 64))) == g_hand
    assert count(create_discriminator("dcgan", (3, 64, 64))) == d_hand


@pytest.mark.parametrize("arch", ["dcgan", "resnet"])
@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("classes", [0, 10])
def test_image_model_shapes(arch, size, classes):
    g = create_generator(arch, 8, (3, size, size), width=4, num_classes=classes, attention=True)
    d = create_discriminator(arch, (3, size, size), width=4, num_classes=classes, attention=True)
    y = torch.tensor([0, 9]) if classes else None
    x = g(torch.randn(2, 8), y)
    assert x.shape == (2, 3, size, size) and x.abs().max() <= 1
    assert d(x, y).shape == (2,)
    assert any(isinstance(m, SelfAttention) for m in g.modules())
    assert any(isinstance(m, SelfAttention) for m in d.modules())


def test_mlp_shapes_and_conditional_labels_matter():
    torch.manual_seed(0)
    g = create_generator("mlp", 4, (2,), width=16, num_classes=3)
    d = create_discriminator("mlp", (2,), width=16, num_classes=3)
    z = torch.randn(5, 4)
    a, b = g(z, torch.zeros(5, dtype=torch.long)), g(z, torch.ones(5, dtype=torch.long))
    assert a.shape == (5, 2) and not torch.allclose(a, b)
    assert not torch.allclose(d(a, torch.zeros(5, dtype=torch.long)), d(a, torch.full((5,), 2)))
    with pytest.raises(ValueError, match="class-conditional"):
        g(z)


def test_self_attention_starts_as_identity_with_gamma_zero():
    att = SelfAttention(16)
    x = torch.randn(2, 16, 5, 5)
    assert att.gamma.item() == 0 and torch.equal(att(x), x)
    with torch.no_grad():
        att.gamma.fill_(1.0)
    assert not torch.allclose(att(x), x)


def test_unsupported_size_and_arch():
    with pytest.raises(ConfigError, match="image size 30"):
        create_generator("dcgan", 8, (3, 30, 30))
    with pytest.raises(ConfigError, match="unknown generator architecture 'big'"):
        create_generator("big", 8, (3, 32, 32))


def test_truncation_respects_threshold():
    g = torch.Generator().manual_seed(0)
    z = truncated_noise(4000, 16, threshold=0.5, generator=g)
    assert z.abs().max() <= 0.5 and z.std() > 0.2  # resampled, not clamped: values spread inside
    assert (z.abs() > 0.49).float().mean() < 0.05
    free = truncated_noise(4000, 16, generator=torch.Generator().manual_seed(0))
    assert free.abs().max() > 3
    with pytest.raises(ConfigError):
        truncated_noise(2, 2, threshold=0)


def test_slerp_endpoints_and_norm():
    a, b = torch.randn(3, 8), torch.randn(3, 8)
    path = slerp(a, b, torch.linspace(0, 1, 5))
    assert path.shape == (3, 5, 8)
    assert torch.allclose(path[:, 0], a, atol=1e-5) and torch.allclose(path[:, -1], b, atol=1e-5)
    # equal-norm endpoints stay on the sphere
    a1, b1 = torch.nn.functional.normalize(a, dim=1), torch.nn.functional.normalize(b, dim=1)
    assert torch.allclose(slerp(a1, b1, torch.linspace(0, 1, 7)).norm(dim=2), torch.ones(3, 7), atol=1e-5)
