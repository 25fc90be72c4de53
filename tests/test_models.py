"""The architecture registry: published parameter counts, every entry builds and runs, weights point at real
architectures, norms by name, and ``pixforge models list/info``."""
from __future__ import annotations

import re

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from pixforge import weights
from pixforge.errors import ConfigError
from pixforge.cli import main
from pixforge.models import parameter_count
from pixforge.models.gan import create_discriminator, create_generator
from pixforge.models.summary import build, summarize
from pixforge.models.transformer_net import TransformerNet, net_from_state_dict
from pixforge.registry import ARCHS

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name, kwargs, expected", [
    ("dcgan-generator", {}, 3_576_704),             # PyTorch DCGAN tutorial G: z 100, ngf 64, 64 px
    ("dcgan-discriminator", {}, 2_765_568),         # and its D
    ("transformer-net-johnson", {}, 1_679_235),     # Johnson et al. / pytorch/examples fast_neural_style
    ("transformer-net-slim", {}, 108_771),
    ("vgg16", {}, 14_714_688),                      # conv part of VGG16 (Simonyan & Zisserman)
    ("vgg19", {}, 20_024_384),
    ("vgg19", {"layers": ["relu5_1"], "normalization": "normalised"}, 12_944_960 + 12),  # to conv5_1, + the 1x1 conv
    ("rrdbnet", {}, 16_697_987),                    # ESRGAN RRDBNet(3, 3, 64, 23, gc=32), x4
    ("magenta-predictor", {}, 2_334_916),
    ("fid-inception-v3", {}, 23_850_960),
])
def test_parameter_counts_match_the_references(name, kwargs, expected):
    with torch.device("meta"):
        model = ARCHS.create(name, **kwargs)
    assert parameter_count(model) == expected


def test_dcgan_tutorial_state_dict_size():
    """3,578,624 is the tutorial G's state dict: 3,576,704 parameters plus BN running mean and variance."""
    g = ARCHS.create("dcgan-generator", z_dim=100, width=64, size=64)
    floats = sum(v.numel() for k, v in g.state_dict().items() if not k.endswith("num_batches_tracked"))
    assert floats == 3_578_624 == 3_576_704 + 2 * (512 + 256 + 128 + 64)


def test_every_architecture_builds_and_runs_its_default_input():
    for name in ARCHS.list():
        meta = ARCHS.meta(name)
        assert meta["family"] and meta["description"] and "input" in meta, name
        s = summarize(name)
        assert s.parameters > 0 and s.outputs, name
    with pytest.raises(ConfigError, match="unknown architecture 'nope'; known: .*dcgan-generator"):
        ARCHS.get("nope")


def test_every_weights_entry_names_a_registered_architecture():
    for name in weights.WEIGHTS.list():
        assert weights.get_spec(name).meta["arch"] in ARCHS, name
    assert set(weights.WEIGHTS.list(arch="transformer-net-johnson")) == {
        "fast-candy", "fast-mosaic", "fast-rain-princess", "fast-udnie"}
    assert set(weights.WEIGHTS.list(arch="vgg19")) == {"vgg19-imagenet", "adain-vgg-normalised"}


def test_registered_weights_build_their_architecture():
    """A network built from its registry entry takes a state dict of its layout (the weights' converter output)."""
    net = ARCHS.create("transformer-net-lite26")
    assert net.num_styles == 26 and parameter_count(net) == 166_599
    dec = ARCHS.create("vgg-decoder")
    assert len(dec.state_dict()) == 18 and dec.state_dict()["1.weight"].shape == (256, 512, 3, 3)


def test_group_norm_is_selectable_where_a_norm_is_chosen():
    def has_group(m: nn.Module) -> bool:
        return any(isinstance(x, nn.GroupNorm) for x in m.modules())

    assert has_group(TransformerNet(norm="group")) and not has_group(TransformerNet())
    x = torch.rand(1, 3, 16, 16) * 255
    net = TransformerNet(norm="group").eval()
    again = net_from_state_dict(net.state_dict(), norm="group").eval()
    assert has_group(again) and torch.equal(again(x), net(x))
    for arch in ("dcgan", "resnet"):
        g = create_generator(arch, 8, (3, 32, 32), width=4, norm="group")
        assert has_group(g) and not any(isinstance(m, nn.BatchNorm2d) for m in g.modules())
        assert g(torch.randn(2, 8)).shape == (2, 3, 32, 32)
    d = create_discriminator("dcgan", (3, 32, 32), width=4, norm="group")
    assert has_group(d) and d(torch.rand(2, 3, 32, 32)).shape == (2,)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in create_discriminator("dcgan", (3, 32, 32), norm="none").modules())
    with pytest.raises(ConfigError, match="conditional batch norm"):
        create_generator("dcgan", 8, (3, 32, 32), num_classes=10, norm="group")


def test_meta_build_matches_real_build():
    for name in ("dcgan-generator", "magenta-transformer"):
        assert parameter_count(build(name)) == parameter_count(build(name, "cpu"))


# ----- CLI -----

def test_models_list_covers_every_architecture():
    result = CliRunner().invoke(main, ["models", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["name", "family", "parameters", "description"]
    listed = {line.split()[0] for line in lines[1:]}
    assert listed == set(ARCHS.list())
    row = next(line for line in lines if line.startswith("transformer-net-johnson "))
    assert row.split()[1:3] == ["style", "1,679,235"]
    gan = CliRunner().invoke(main, ["models", "list", "--family", "gan"])
    assert {line.split()[0] for line in gan.output.splitlines()[1:]} == set(ARCHS.list(family="gan"))
    bad = CliRunner().invoke(main, ["models", "list", "--family", "toys"])
    assert bad.exit_code == 2 and "unknown family 'toys'; known: " in bad.output


def test_models_info_format(isolated_home):
    result = CliRunner().invoke(main, ["models", "info", "transformer-net-johnson"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "parameters: 1679235" in lines
    assert "input: (1, 3, 256, 256)" in lines and "output: (1, 3, 256, 256)" in lines
    assert lines[lines.index("weights:") + 1].split()[:2] == ["fast-candy", "missing"]
    vgg = CliRunner().invoke(main, ["models", "info", "vgg16"]).output.splitlines()
    assert "parameters: 14714688" in vgg and "output[relu5_3]: (1, 512, 14, 14)" in vgg
    assert any(re.match(r"\s+vgg16-hed\s+missing\s", line) for line in vgg)
    gan = CliRunner().invoke(main, ["models", "info", "dcgan-generator"]).output.splitlines()
    assert "input: (1, 100)" in gan and "output: (1, 3, 64, 64)" in gan
    assert any(re.match(r"\s+dcgan-faces64\s+missing\s", line) for line in gan)
    resnet = CliRunner().invoke(main, ["models", "info", "resnet-generator"]).output.splitlines()
    assert "weights: none registered" in resnet


def test_models_info_unknown_name_is_one_line_exit_2():
    result = CliRunner().invoke(main, ["models", "info", "dcgan"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert result.output.startswith("pixforge: error: unknown architecture 'dcgan'; known: ")
