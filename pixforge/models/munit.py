"""MUNIT and UNIT (Huang et al. 2018; Liu et al. 2017) in the layout of NVlabs/MUNIT, so that its checkpoints
(``gen_XXXXXXXX.pt`` = ``{"a": gen_a.state_dict(), "b": gen_b.state_dict()}``, ``dis_XXXXXXXX.pt`` likewise) load
by key (:func:`load_munit`).

* ``munit-generator`` (``AdaINGen``): a content encoder (7x7 conv, ``n_downsample`` 4x4 stride-2 convs, ``n_res``
  residual blocks, instance norm), a style encoder (7x7 conv, four stride-2 convs, global average pooling, 1x1
  conv to ``style_dim``; no norm), and a decoder (``n_res`` residual blocks with AdaIN, then nearest 2x upsampling
  + 5x5 conv + MUNIT's layer norm per downsampling, 7x7 conv, tanh) whose AdaIN scales and shifts come from an
  MLP of the style code (3 linear layers, ``mlp_dim`` hidden). Defaults: the reference's edges2shoes config (dim
  64, style_dim 8, 2 downsamplings, 4 residual blocks, mlp_dim 256, ReLU, reflection padding).
* ``munit-discriminator`` (``MsImageDis``): ``num_scales`` (3) PatchGAN-like stacks of 4x4 stride-2 convs (64..512,
  LeakyReLU 0.2, no norm) ending in a 1x1 conv, on the image and its 2x and 4x average-pooled versions; LSGAN.
* ``unit-generator`` (``VAEGen``): the same content encoder and a decoder with instance norm instead of AdaIN; the
  latent code is the encoder's output, with unit-variance Gaussian noise added while training (UNIT's shared
  latent space as MUNIT's repository implements it, without weight sharing between the two domains; the paper's
  sharing of high-level layers is :func:`share_unit_layers`).

As in the reference, the content encoder's (and UNIT's) instance norms track running statistics, and ``eval()``
uses them: its test script evaluates in ``eval()`` mode, so that is what its released results show. The AdaIN
layers always normalise with the image's own statistics. MUNIT's layer norm is ``(x - mean) / (std + eps)`` over
(C, H, W) with the unbiased std, then a per-channel affine (gamma initialised uniform in [0, 1]).
"""
from __future__ import annotations

import os
import re

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from ..registry import ARCHS
from ..weights import load_strict, torch_load

Tensor = torch.Tensor
PADS = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d, "zero": nn.ZeroPad2d}
ACTIVATIONS = {"relu": lambda: nn.ReLU(True), "lrelu": lambda: nn.LeakyReLU(0.2, True), "prelu": nn.PReLU,
               "selu": lambda: nn.SELU(True), "tanh": nn.Tanh, "none": lambda: None}


class LayerNorm(nn.Module):
    """MUNIT's layer norm: ``(x - mean) / (std + eps)`` per sample over all other dims (unbiased std), then
    ``* gamma + beta`` per channel."""

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.rand(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: Tensor) -> Tensor:
        flat = x.flatten(1)
        shape = (-1,) + (1,) * (x.dim() - 1)
        x = (x - flat.mean(1).view(shape)) / (flat.std(1).view(shape) + self.eps)
        affine = (1, -1) + (1,) * (x.dim() - 2)
        return x * self.gamma.view(affine) + self.beta.view(affine)


class AdaptiveInstanceNorm2d(nn.Module):
    """Instance norm whose per-sample scale and shift are given: ``forward(x, params)`` with ``params`` (N, 2C)
    = (shifts, scales), a slice of the style MLP's output. The running-statistic buffers are the reference's
    unused dummies, kept so its state dicts load."""

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.num_features, self.eps = num_features, eps
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: Tensor, params: Tensor) -> Tensor:
        c = self.num_features
        shift, scale = params[:, :c, None, None], params[:, c:2 * c, None, None]
        return F.instance_norm(x, eps=self.eps) * scale + shift


def make_munit_norm(name: str, channels: int) -> nn.Module | None:
    """A norm by MUNIT's name: bn, in (tracking running statistics), ln, adain, none; ``in_plain`` is FUNIT's
    ``in`` (no running statistics, no parameters)."""
    if name == "bn":
        return nn.BatchNorm2d(channels)
    if name == "in":
        return nn.InstanceNorm2d(channels, track_running_stats=True)
    if name == "in_plain":
        return nn.InstanceNorm2d(channels)
    if name == "ln":
        return LayerNorm(channels)
    if name == "adain":
        return AdaptiveInstanceNorm2d(channels)
    if name == "none":
        return None
    raise ValueError(f"unknown MUNIT norm {name!r}")


class Conv2dBlock(nn.Module):
    """pad, conv, [norm], [activation] (``activation_first``: [activation], pad, conv, [norm], FUNIT's); an AdaIN
    norm takes its parameters as ``forward``'s extra argument. Activations work in place, as the references'."""

    def __init__(self, input_dim: int, output_dim: int, kernel_size: int, stride: int, padding: int = 0,
                 norm: str = "none", activation: str = "relu", pad_type: str = "zero", bias: bool = True,
                 activation_first: bool = False):
        super().__init__()
        self.activation_first = activation_first
        self.pad = PADS[pad_type](padding)
        self.norm = make_munit_norm(norm, output_dim)
        self.activation = ACTIVATIONS[activation]()
        self.conv = nn.Conv2d(input_dim, output_dim, kernel_size, stride, bias=bias)

    def forward(self, x: Tensor, *norm_params: Tensor) -> Tensor:
        if self.activation_first and self.activation is not None:
            x = self.activation(x)
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x, *norm_params)
        return self.activation(x) if self.activation is not None and not self.activation_first else x


class LinearBlock(nn.Module):
    def __init__(self, input_dim: int, output_dim: int, activation: str = "relu"):
        super().__init__()
        self.fc = nn.Linear(input_dim, output_dim)
        self.activation = ACTIVATIONS[activation]()

    def forward(self, x: Tensor) -> Tensor:
        x = self.fc(x)
        return self.activation(x) if self.activation is not None else x


class ResBlock(nn.Module):
    """``x + [conv-norm-act, conv-norm](x)`` (3x3 convs); with AdaIN, ``params`` holds one (N, 2C) per norm."""

    def __init__(self, dim: int, norm: str = "in", activation: str = "relu", pad_type: str = "zero"):
        super().__init__()
        self.model = nn.Sequential(Conv2dBlock(dim, dim, 3, 1, 1, norm, activation, pad_type),
                                   Conv2dBlock(dim, dim, 3, 1, 1, norm, "none", pad_type))

    def forward(self, x: Tensor, params: tuple[Tensor, ...] = ()) -> Tensor:
        return x + self.model[1](self.model[0](x, *params[:1]), *params[1:2])


class ResBlocks(nn.Module):
    def __init__(self, num_blocks: int, dim: int, norm: str = "in", activation: str = "relu", pad_type: str = "zero"):
        super().__init__()
        self.model = nn.Sequential(*(ResBlock(dim, norm, activation, pad_type) for _ in range(num_blocks)))

    def forward(self, x: Tensor, params: tuple[Tensor, ...] = ()) -> Tensor:
        for i, block in enumerate(self.model):
            x = block(x, params[2 * i:2 * i + 2])
        return x


class StyleEncoder(nn.Module):
    """7x7 conv, stride-2 convs (widths doubling twice, then constant), global average pool, 1x1 conv."""

    def __init__(self, n_downsample: int, input_dim: int, dim: int, style_dim: int, norm: str = "none",
                 activ: str = "relu", pad_type: str = "reflect"):
        super().__init__()
        layers = [Conv2dBlock(input_dim, dim, 7, 1, 3, norm, activ, pad_type)]
        for i in range(n_downsample):
            out = dim * 2 if i < 2 else dim
            layers += [Conv2dBlock(dim, out, 4, 2, 1, norm, activ, pad_type)]
            dim = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, style_dim, 1, 1, 0)]
        self.model = nn.Sequential(*layers)
        self.output_dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class ContentEncoder(nn.Module):
    """7x7 conv, ``n_downsample`` 4x4 stride-2 convs (widths doubling), ``n_res`` residual blocks."""

    def __init__(self, n_downsample: int, n_res: int, input_dim: int, dim: int, norm: str = "in",
                 activ: str = "relu", pad_type: str = "reflect"):
        super().__init__()
        layers = [Conv2dBlock(input_dim, dim, 7, 1, 3, norm, activ, pad_type)]
        for _ in range(n_downsample):
            layers += [Conv2dBlock(dim, 2 * dim, 4, 2, 1, norm, activ, pad_type)]
            dim *= 2
        layers += [ResBlocks(n_res, dim, norm, activ, pad_type)]
        self.model = nn.Sequential(*layers)
        self.output_dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class Decoder(nn.Module):
    """Residual blocks (``res_norm``: adain or in), then per upsampling nearest 2x + 5x5 conv + layer norm
    (``up_norm``; FUNIT: ``in_plain``), then a 7x7 conv and tanh. ``forward(x, adain_params)``: (N, 2 * sum of
    the AdaIN widths), in the reference's order."""

    def __init__(self, n_upsample: int, n_res: int, dim: int, output_dim: int, res_norm: str = "adain",
                 activ: str = "relu", pad_type: str = "reflect", up_norm: str = "ln"):
        super().__init__()
        layers: list[nn.Module] = [ResBlocks(n_res, dim, res_norm, activ, pad_type)]
        for _ in range(n_upsample):
            layers += [nn.Upsample(scale_factor=2), Conv2dBlock(dim, dim // 2, 5, 1, 2, up_norm, activ, pad_type)]
            dim //= 2
        layers += [Conv2dBlock(dim, output_dim, 7, 1, 3, "none", "tanh", pad_type)]
        self.model = nn.Sequential(*layers)

    def adain_widths(self) -> list[int]:
        return [m.num_features for m in self.modules() if isinstance(m, AdaptiveInstanceNorm2d)]

    def forward(self, x: Tensor, adain_params: Tensor | None = None) -> Tensor:
        params: tuple[Tensor, ...] = ()
        if adain_params is not None:
            params = torch.split(adain_params, [2 * c for c in self.adain_widths()], dim=1)
        x = self.model[0](x, params)
        for layer in self.model[1:]:
            x = layer(x)
        return x


class MLP(nn.Module):
    """``n_blk`` linear layers (ReLU between them, none after the last) on the flattened input."""

    def __init__(self, input_dim: int, output_dim: int, dim: int, n_blk: int = 3, activ: str = "relu"):
        super().__init__()
        layers = [LinearBlock(input_dim, dim, activ)]
        layers += [LinearBlock(dim, dim, activ) for _ in range(n_blk - 2)]
        layers += [LinearBlock(dim, output_dim, "none")]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x.flatten(1))


def munit_init(net: nn.Module, kind: str = "kaiming") -> nn.Module:
    """The reference's ``weights_init``: conv/linear weights Kaiming-normal (fan in) or N(0, 0.02)
    (``gaussian``), biases 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if kind == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            else:
                nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net


@ARCHS.register("munit-generator", family="translation", guided=True, input=(3, 256, 256),
                description="MUNIT AdaINGen: content encoder + style encoder (style_dim 8) + AdaIN decoder with MLP")
class AdaINGen(nn.Module):
    """One domain's auto-encoder: ``encode(x) -> (content, style)``, ``decode(content, style) -> image``;
    ``forward(x)`` reconstructs. Style codes are (N, style_dim, 1, 1) (or (N, style_dim))."""

    def __init__(self, input_dim: int = 3, dim: int = 64, style_dim: int = 8, n_downsample: int = 2, n_res: int = 4,
                 mlp_dim: int = 256, activ: str = "relu", pad_type: str = "reflect", n_style_downsample: int = 4):
        super().__init__()
        self.in_channels, self.style_dim = input_dim, style_dim
        self.size_multiple = 2 ** max(n_downsample, 0)
        self.enc_style = StyleEncoder(n_style_downsample, input_dim, dim, style_dim, "none", activ, pad_type)
        self.enc_content = ContentEncoder(n_downsample, n_res, input_dim, dim, "in", activ, pad_type)
        self.dec = Decoder(n_downsample, n_res, self.enc_content.output_dim, input_dim, "adain", activ, pad_type)
        self.mlp = MLP(style_dim, 2 * sum(self.dec.adain_widths()), mlp_dim, 3, activ)
        munit_init(self)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.enc_content(x), self.enc_style(x)

    def decode(self, content: Tensor, style: Tensor) -> Tensor:
        return self.dec(content, self.mlp(style))

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(*self.encode(x))


@ARCHS.register("unit-generator", family="translation", guided=True, input=(3, 256, 256),
                description="UNIT VAEGen (MUNIT repository): content encoder, instance-norm decoder, shared latent")
class VAEGen(nn.Module):
    """``encode(x) -> (hidden, noise)``, ``decode(hidden) -> image``; ``forward`` adds the noise while training."""

    def __init__(self, input_dim: int = 3, dim: int = 64, n_downsample: int = 2, n_res: int = 4,
                 activ: str = "relu", pad_type: str = "reflect"):
        super().__init__()
        self.in_channels = input_dim
        self.size_multiple = 2 ** max(n_downsample, 0)
        self.enc = ContentEncoder(n_downsample, n_res, input_dim, dim, "in", activ, pad_type)
        self.dec = Decoder(n_downsample, n_res, self.enc.output_dim, input_dim, "in", activ, pad_type)
        munit_init(self)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.enc(x)
        return hidden, torch.randn_like(hidden)

    def decode(self, hidden: Tensor) -> Tensor:
        return self.dec(hidden)

    def forward(self, x: Tensor) -> Tensor:
        hidden, noise = self.encode(x)
        return self.decode(hidden + noise if self.training else hidden)


def tie(src: nn.Sequential, dst: nn.Sequential, indices: range) -> None:
    """``dst[i]`` becomes the module ``src[i]`` (the same object: one set of parameters, trained by both users)."""
    for i in indices:
        dst[i] = src[i]


def share_unit_layers(gen_a: VAEGen, gen_b: VAEGen, n: int) -> None:
    """UNIT's weight sharing (Liu et al. 2017; mingyuliutw/UNIT version_02's ``enc_shared``/``dec_shared``):
    ``gen_b`` uses ``gen_a``'s last ``n`` encoder residual blocks and first ``n`` decoder residual blocks, so both
    domains reach and leave the latent space through the same high-level layers. Each generator's state dict still
    lists every tensor (the shared ones under both names, one storage), so either loads alone."""
    if not 0 <= n <= len(gen_a.enc.model[-1].model):
        raise ValueError(f"can share 0..{len(gen_a.enc.model[-1].model)} residual blocks, not {n}")
    enc_a, enc_b = gen_a.enc.model[-1].model, gen_b.enc.model[-1].model
    tie(enc_a, enc_b, range(len(enc_a) - n, len(enc_a)))
    tie(gen_a.dec.model[0].model, gen_b.dec.model[0].model, range(n))


@ARCHS.register("munit-discriminator", family="translation", guided=True, input=(3, 256, 256),
                description="MUNIT MsImageDis: 3 scales of 4 stride-2 convs (64..512, LeakyReLU), LSGAN")
class MsImageDis(nn.Module):
    """``forward(x)`` -> one (N, 1, h, w) output per scale, the image 2x average-pooled between scales."""

    def __init__(self, input_dim: int = 3, dim: int = 64, n_layer: int = 4, norm: str = "none", activ: str = "lrelu",
                 num_scales: int = 3, pad_type: str = "reflect"):
        super().__init__()
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.cnns = nn.ModuleList()
        for _ in range(num_scales):
            width = dim
            layers = [Conv2dBlock(input_dim, width, 4, 2, 1, "none", activ, pad_type)]
            for _ in range(n_layer - 1):
                layers += [Conv2dBlock(width, width * 2, 4, 2, 1, norm, activ, pad_type)]
                width *= 2
            layers += [nn.Conv2d(width, 1, 1, 1, 0)]
            self.cnns.append(nn.Sequential(*layers))
        munit_init(self, "gaussian")

    def forward(self, x: Tensor) -> list[Tensor]:
        outputs = []
        for model in self.cnns:
            outputs.append(model(x))
            x = self.downsample(x)
        return outputs


def share_dis_layers(dis_a: MsImageDis, dis_b: MsImageDis, n: int) -> None:
    """The discriminators' sharing of UNIT's ``COCOSharedDis``: at every scale ``dis_b`` uses ``dis_a``'s last ``n``
    stride-2 conv blocks and its 1x1 output conv (``n`` = 0 shares nothing; the output conv is shared only with
    them). The first block, which reads the domain's images, stays each domain's own."""
    if not 0 <= n < len(dis_a.cnns[0]) - 1:
        raise ValueError(f"can share 0..{len(dis_a.cnns[0]) - 2} conv blocks, not {n}")
    for cnn_a, cnn_b in zip(dis_a.cnns, dis_b.cnns):
        tie(cnn_a, cnn_b, range(len(cnn_a) - 1 - n, len(cnn_a)) if n else range(0))


# ------------------------------------------------------------------------------------------------------
# Loading the reference's checkpoints
# ------------------------------------------------------------------------------------------------------

def _count(state: dict, pattern: str) -> int:
    return len({m.group(1) for k in state if (m := re.fullmatch(pattern, k))})


def generator_from_state_dict(state: dict[str, Tensor], what: str = "checkpoint") -> AdaINGen | VAEGen:
    """The MUNIT ``AdaINGen`` or UNIT ``VAEGen`` whose sizes ``state`` (one domain's generator) implies, loaded."""
    unit = "enc.model.0.conv.weight" in state
    enc = "enc" if unit else "enc_content"
    try:
        first = state[f"{enc}.model.0.conv.weight"]
        n_down = _count(state, rf"{enc}\.model\.(\d+)\.conv\.weight") - 1
        n_res = _count(state, rf"{enc}\.model\.{n_down + 1}\.model\.(\d+)\.model\.0\.conv\.weight")
        if unit:
            net = VAEGen(first.shape[1], first.shape[0], n_down, n_res)
        else:
            n_style = _count(state, r"enc_style\.model\.(\d+)\.conv\.weight") - 1
            style_dim = state[f"enc_style.model.{n_style + 2}.weight"].shape[0]
            net = AdaINGen(first.shape[1], first.shape[0], style_dim, n_down, n_res,
                           state["mlp.model.0.fc.weight"].shape[0], n_style_downsample=n_style)
    except KeyError as exc:
        raise WeightsError(f"{what}: not a MUNIT/UNIT generator (no {exc.args[0]})") from None
    return load_strict(net, state, what).eval()


def load_munit(path: str | os.PathLike) -> dict[str, AdaINGen | VAEGen]:
    """``{"a": gen_a, "b": gen_b}`` from NVlabs/MUNIT's ``gen_XXXXXXXX.pt`` (MUNIT or UNIT), read with
    ``torch.load(weights_only=True)``."""
    obj = torch_load(path, "a MUNIT/UNIT generator checkpoint (gen_*.pt)")
    if not (isinstance(obj, dict) and isinstance(obj.get("a"), dict) and isinstance(obj.get("b"), dict)):
        raise WeightsError(f"{path}: not a MUNIT/UNIT gen_*.pt (a dict with the generators 'a' and 'b')")
    return {d: generator_from_state_dict(obj[d], f"{path} ({d})") for d in ("a", "b")}
