"""SPADE / GauGAN networks (Park et al. 2019) in the layout of NVlabs/SPADE, so its checkpoints load by key mapping
(:func:`network_from_state_dict`):

* ``spade-generator``: from the segmentation map downsampled 32x (or, with ``use_vae``, from a style code z
  through a linear layer), seven SPADE residual blocks with nearest 2x upsampling between them, LeakyReLU, a 3x3
  conv and tanh. Every block's norms are :class:`~pixforge.nn.norms.SPADE` (parameter-free batch norm, then a
  per-pixel scale and shift predicted from the map through 128 hidden channels); its convs are spectrally
  normalised (the reference's default ``spectralspadesyncbatch3x3``).
* ``spade-discriminator``: two PatchGANs (n_layers 4, spectral norm and instance norm) on the map concatenated
  with the image at full and half size, returning every layer's features (for feature matching).
* ``spade-encoder``: the optional VAE style encoder (image resized to 256 px -> mu, logvar of a 256-d code).

Label maps are one-hot (N, label_nc, H, W); the defaults are ADE20K's (150 classes + "don't care" = 151 channels,
256 px). Spectral norm is ``torch.nn.utils.parametrizations.spectral_norm``: the reference's
``weight_orig/weight_u/weight_v`` keys map onto ``parametrizations.weight.{original,0._u,0._v}``
(:func:`convert_spectral_keys`), and files saved by PyTorch 1.0 (a ``weight`` buffer, no ``weight_v``) get their
``v`` solved for as PyTorch's own loading hook does. Initialisation as the reference: Xavier normal with gain 0.02,
spectrally normalised convs keeping PyTorch's default.
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..errors import ConfigError
from ..nn.norms import SPADE
from ..registry import ARCHS
from .pix2pix import init_weights, load_by_keys, patch_layers, reference_norm
from .pix2pixhd import downsample

LABELS = 151  # ADE20K: 150 classes + "don't care"
UPSAMPLINGS = {"normal": 5, "more": 6, "most": 7}
Tensor = torch.Tensor


class SPADEResnetBlock(nn.Module):
    """SPADE, LeakyReLU(0.2), 3x3 conv, twice, plus the shortcut (SPADE + 1x1 conv without bias when the width
    changes). Module names as the reference (``conv_0``, ``norm_0``, ``conv_s`` ...)."""

    def __init__(self, fin: int, fout: int, label_nc: int, spectral: bool = True, norm: str = "batch",
                 kernel_size: int = 3):
        super().__init__()
        self.learned_shortcut = fin != fout
        middle = min(fin, fout)
        sn = spectral_norm if spectral else (lambda m: m)
        self.conv_0 = sn(nn.Conv2d(fin, middle, 3, padding=1))
        self.conv_1 = sn(nn.Conv2d(middle, fout, 3, padding=1))
        self.norm_0 = SPADE(fin, label_nc, kernel_size=kernel_size, norm=norm)
        self.norm_1 = SPADE(middle, label_nc, kernel_size=kernel_size, norm=norm)
        if self.learned_shortcut:
            self.conv_s = sn(nn.Conv2d(fin, fout, 1, bias=False))
            self.norm_s = SPADE(fin, label_nc, kernel_size=kernel_size, norm=norm)

    def forward(self, x: Tensor, seg: Tensor) -> Tensor:
        skip = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return skip + dx


@ARCHS.register("spade-generator", family="translation", input=(LABELS, 256, 256),
                description="SPADE (GauGAN) generator: 7 SPADE residual blocks, ngf 64, spectral norm")
class SPADEGenerator(nn.Module):
    """One-hot segmentation map (N, label_nc, H, W), H and W multiples of ``size_multiple``, -> image in [-1, 1].

    ``num_upsampling_layers``: ``normal`` (5 upsamplings), ``more`` (one more between the middle blocks) or
    ``most`` (and one more block at the end). With ``use_vae`` the first layer is a linear map of a ``z_dim`` code
    (random N(0, 1) if not given) to a ``crop_size / 2**k`` wide, ``/ aspect_ratio`` high feature map."""

    def __init__(self, label_nc: int = LABELS, ngf: int = 64, num_upsampling_layers: str = "normal",
                 use_vae: bool = False, z_dim: int = 256, crop_size: int = 256, aspect_ratio: float = 1.0,
                 spectral: bool = True, norm: str = "batch"):
        super().__init__()
        if num_upsampling_layers not in UPSAMPLINGS:
            raise ConfigError(f"unknown num_upsampling_layers {num_upsampling_layers!r}; known: "
                              f"{', '.join(UPSAMPLINGS)}")
        self.label_nc, self.ngf, self.z_dim, self.use_vae = label_nc, ngf, z_dim, use_vae
        self.num_upsampling_layers = num_upsampling_layers
        self.size_multiple = 2 ** UPSAMPLINGS[num_upsampling_layers]
        self.sw = crop_size // self.size_multiple
        self.sh = round(self.sw / aspect_ratio)
        nf = ngf
        self.fc = (nn.Linear(z_dim, 16 * nf * self.sw * self.sh) if use_vae
                   else nn.Conv2d(label_nc, 16 * nf, 3, padding=1))

        def block(fin: int, fout: int) -> SPADEResnetBlock:
            return SPADEResnetBlock(fin, fout, label_nc, spectral, norm)

        self.head_0 = block(16 * nf, 16 * nf)
        self.G_middle_0 = block(16 * nf, 16 * nf)
        self.G_middle_1 = block(16 * nf, 16 * nf)
        self.up_0 = block(16 * nf, 8 * nf)
        self.up_1 = block(8 * nf, 4 * nf)
        self.up_2 = block(4 * nf, 2 * nf)
        self.up_3 = block(2 * nf, nf)
        final = nf
        if num_upsampling_layers == "most":
            self.up_4 = block(nf, nf // 2)
            final = nf // 2
        self.conv_img = nn.Conv2d(final, 3, 3, padding=1)
        init_weights(self, kind="xavier")

    def forward(self, seg: Tensor, z: Tensor | None = None) -> Tensor:
        up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
        if self.use_vae:
            if z is None:
                z = torch.randn(seg.shape[0], self.z_dim, device=seg.device, dtype=seg.dtype)
            x = self.fc(z).view(-1, 16 * self.ngf, self.sh, self.sw)
        else:
            h, w = seg.shape[-2:]
            x = self.fc(F.interpolate(seg, size=(h // self.size_multiple, w // self.size_multiple)))
        x = up(self.head_0(x, seg))
        x = self.G_middle_0(x, seg)
        if self.num_upsampling_layers != "normal":
            x = up(x)
        x = self.G_middle_1(x, seg)
        for block in (self.up_0, self.up_1, self.up_2, self.up_3):
            x = block(up(x), seg)
        if self.num_upsampling_layers == "most":
            x = self.up_4(up(x), seg)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))


class PatchFeatures(nn.Module):
    """One SPADE PatchGAN: ``model0`` ... ``model{n_layers}``, each output kept (the last are the logits).
    Middle convs are spectrally normalised, without bias, each nested with its instance norm as the reference
    (``model1.0.0`` = conv, ``model1.0.1`` = norm)."""

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 4, norm: str = "instance",
                 spectral: bool = True):
        super().__init__()
        groups = patch_layers(in_channels, ndf, n_layers - 1, norm, bias=False, padding=2, max_width=512)
        for n, group in enumerate(groups):
            if 0 < n < len(groups) - 1:
                conv, layer_norm, act = group
                group = [nn.Sequential(spectral_norm(conv) if spectral else conv, layer_norm), act]
            self.add_module(f"model{n}", nn.Sequential(*group))

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        for layer in self.children():
            x = layer(x)
            features.append(x)
        return features


@ARCHS.register("spade-discriminator", family="translation", input=(LABELS + 3, 256, 256),
                description="SPADE multi-scale PatchGAN (2 scales, n_layers 4, spectral + instance norm)")
class SPADEDiscriminator(nn.Module):
    """``discriminator_0`` sees the full-size input, ``discriminator_1`` half of it, ...; returns a list over
    scales of lists of features ending with the logits."""

    def __init__(self, in_channels: int = LABELS + 3, ndf: int = 64, n_layers: int = 4, num_D: int = 2,
                 norm: str = "instance", spectral: bool = True):
        super().__init__()
        for i in range(num_D):
            self.add_module(f"discriminator_{i}", PatchFeatures(in_channels, ndf, n_layers, norm, spectral))
        init_weights(self, kind="xavier")

    def forward(self, x: Tensor) -> list[list[Tensor]]:
        result = []
        for d in self.children():
            result.append(d(x))
            x = downsample(x)
        return result


@ARCHS.register("spade-encoder", family="translation", input=(3, 256, 256),
                description="SPADE VAE style encoder: image -> (mu, logvar) of a 256-d style code")
class ConvEncoder(nn.Module):
    """Six (five below 256 px crops) 3x3 stride-2 convs with spectral + instance norm and LeakyReLU(0.2), then two
    linear heads. The input is resized to 256 x 256 first, as the reference does."""

    def __init__(self, ngf: int = 64, crop_size: int = 256, z_dim: int = 256, norm: str = "instance",
                 spectral: bool = True):
        super().__init__()
        widths = [3, ngf, ngf * 2, ngf * 4, ngf * 8, ngf * 8] + ([ngf * 8] if crop_size >= 256 else [])
        self.depth = len(widths) - 1
        for i, (a, b) in enumerate(zip(widths, widths[1:])):
            conv = nn.Conv2d(a, b, 3, stride=2, padding=1, bias=False)
            self.add_module(f"layer{i + 1}", nn.Sequential(spectral_norm(conv) if spectral else conv,
                                                           reference_norm(norm, b)))
        self.fc_mu = nn.Linear(ngf * 8 * 4 * 4, z_dim)
        self.fc_var = nn.Linear(ngf * 8 * 4 * 4, z_dim)
        init_weights(self, kind="xavier")

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.shape[-2:] != (256, 256):
            x = F.interpolate(x, size=(256, 256), mode="bilinear")
        for i in range(1, self.depth + 1):
            x = F.leaky_relu(getattr(self, f"layer{i}")(x), 0.2)
        x = x.flatten(1)
        return self.fc_mu(x), self.fc_var(x)


# ------------------------------------------------------------------------------------------------------
# Loading the reference's checkpoints
# ------------------------------------------------------------------------------------------------------

def _solve_v(weight: Tensor, u: Tensor, sigma: Tensor) -> Tensor:
    """PyTorch's ``_solve_v_and_rescale``: the ``v`` that a PyTorch 1.0 file implies, scaled so u^T W v = sigma."""
    mat = weight.flatten(1)
    v = torch.linalg.multi_dot([(mat.t() @ mat).pinverse(), mat.t(), u[:, None]]).squeeze(1)
    return v * (sigma / torch.dot(u, mat @ v))


def convert_spectral_keys(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """``X.weight_orig/weight_u/weight_v`` (``torch.nn.utils.spectral_norm``) -> the parametrization's
    ``X.parametrizations.weight.original/0._u/0._v``. PyTorch 1.0 files also hold the normalised ``X.weight`` and
    no ``X.weight_v``: v is solved for from them (sigma = mean(weight_orig / weight))."""
    out = {}
    for key, value in state.items():
        stem, _, leaf = key.rpartition(".")
        at = (lambda name: f"{stem}.{name}") if stem else (lambda name: name)  # noqa: E731
        if at("weight_orig") not in state:
            out[key] = value
        elif leaf == "weight_orig":
            out[at("parametrizations.weight.original")] = value
        elif leaf in ("weight_u", "weight_v"):
            out[at(f"parametrizations.weight.0._{leaf[-1]}")] = value
        elif leaf == "weight" and at("weight_v") not in state:  # PyTorch 1.0
            orig, u = state[at("weight_orig")].float(), state[at("weight_u")].float()
            out[at("parametrizations.weight.0._v")] = _solve_v(orig, u, (orig / value.float()).mean())
        elif leaf != "weight":
            out[key] = value
    return out


def generator_from_state_dict(state: dict, num_upsampling_layers: str | None = None,
                              aspect_ratio: float = 1.0) -> SPADEGenerator:
    """A :class:`SPADEGenerator` of the size ``state`` implies. ``more`` upsamplings leave no trace in the keys
    (pass it); with a VAE, the first map's aspect ratio does not either (default square)."""
    label_nc = state["head_0.norm_0.mlp_shared.0.weight"].shape[1]
    ngf = state["conv_img.weight"].shape[1] * (2 if "up_4.conv_1.bias" in state else 1)
    upsampling = num_upsampling_layers or ("most" if "up_4.conv_1.bias" in state else "normal")
    use_vae = state["fc.weight"].ndim == 2
    kwargs = {}
    if use_vae:
        z_dim = state["fc.weight"].shape[1]
        cells = state["fc.weight"].shape[0] // (16 * ngf)
        sw = round((cells * aspect_ratio) ** 0.5)
        kwargs = {"z_dim": z_dim, "crop_size": sw * 2 ** UPSAMPLINGS[upsampling], "aspect_ratio": aspect_ratio}
    spectral = any(k.startswith("head_0.conv_0.parametrizations") for k in state)
    return SPADEGenerator(label_nc, ngf, upsampling, use_vae, spectral=spectral, **kwargs)


def discriminator_from_state_dict(state: dict) -> SPADEDiscriminator:
    scales = {k.split(".")[0] for k in state if k.startswith("discriminator_")}
    layers = {k.split(".")[1] for k in state if k.startswith("discriminator_0.")}
    ndf, cin = state["discriminator_0.model0.0.weight"].shape[:2]
    spectral = any(".parametrizations." in k for k in state)
    return SPADEDiscriminator(cin, ndf, len(layers) - 1, len(scales), spectral=spectral)


def encoder_from_state_dict(state: dict) -> ConvEncoder:
    layers = {k.split(".")[0] for k in state if k.startswith("layer")}
    spectral = any(".parametrizations." in k for k in state)
    ngf = state["fc_mu.weight"].shape[1] // (8 * 4 * 4)
    return ConvEncoder(ngf, 256 if len(layers) == 6 else 128, state["fc_mu.weight"].shape[0], spectral=spectral)


def network_from_state_dict(state: dict[str, Tensor], what: str = "checkpoint", **kwargs) -> nn.Module:
    """The SPADE network (generator, multi-scale discriminator or VAE encoder) that a state dict in the reference's
    layout belongs to, with the weights loaded; ``kwargs`` go to :func:`generator_from_state_dict`."""
    return load_by_keys(convert_spectral_keys(state), what, "SPADE", {
        "head_0.": partial(generator_from_state_dict, **kwargs), "discriminator_0.": discriminator_from_state_dict,
        "fc_mu.": encoder_from_state_dict})
