"""FUNIT (Liu et al. 2019, "Few-Shot Unsupervised Image-to-Image Translation") in the layout of NVlabs/FUNIT, so
that its checkpoints (``gen_XXXXXXXX.pt`` = ``{"gen": ..., "gen_test": ...}``) load by key
(:func:`generator_from_state_dict`). Its blocks are MUNIT's (:mod:`pixforge.models.munit`, from which FUNIT's
code descends):

* ``funit-generator`` (``FewShotGen``): a content encoder (MUNIT's, with plain instance norm; 3 downsamplings,
  2 residual blocks), a *class* encoder (MUNIT's style encoder, no norm: 7x7 conv, 4 stride-2 convs, global
  average pooling, 1x1 conv to ``latent_dim`` 64) whose codes of K example images of a class are averaged into
  the class code, and a decoder (AdaIN residual blocks, then upsampling + 5x5 conv + instance norm) whose AdaIN
  parameters an MLP (3 layers, 256 wide) makes from the class code.
* ``funit-discriminator`` (``GPPatchMcResDis``): a 7x7 conv, then ``n_res_blks / 2`` stages of two pre-activation
  residual blocks (``ActFirstResBlock``: LeakyReLU, 3x3 conv, twice; a 1x1 conv shortcut without bias where the
  width changes), widths doubling up to 1024, 3x3 average pooling between stages; a 1x1 conv (after LeakyReLU)
  to one patch map per training class, of which ``forward(x, y)`` returns class ``y``'s, with the features.

As in the reference, activations work in place, so an identity shortcut carries the LeakyReLU of its input (the
block's first activation rewrites it) and the features ``forward`` returns have passed the last LeakyReLU.
Initialisation: Kaiming-normal (fan in) convs and linears, biases 0 (the reference's ``init: kaiming``).
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import WeightsError
from ..registry import ARCHS
from ..weights import load_strict
from .munit import MLP, ContentEncoder, Conv2dBlock, Decoder, StyleEncoder, munit_init

Tensor = torch.Tensor


class ActFirstResBlock(nn.Module):
    """``shortcut(x) + conv_1(conv_0(x))`` with activation-first convs (see the module docstring)."""

    def __init__(self, fin: int, fout: int, fhid: int | None = None, activation: str = "lrelu", norm: str = "none"):
        super().__init__()
        self.learned_shortcut = fin != fout
        self.fin, self.fout = fin, fout
        self.fhid = min(fin, fout) if fhid is None else fhid
        self.conv_0 = Conv2dBlock(fin, self.fhid, 3, 1, 1, norm, activation, "reflect", activation_first=True)
        self.conv_1 = Conv2dBlock(self.fhid, fout, 3, 1, 1, norm, activation, "reflect", activation_first=True)
        if self.learned_shortcut:
            self.conv_s = Conv2dBlock(fin, fout, 1, 1, activation="none", bias=False)

    def forward(self, x: Tensor) -> Tensor:
        x_s = self.conv_s(x) if self.learned_shortcut else x
        dx = self.conv_1(self.conv_0(x))
        return x_s + dx


@ARCHS.register("funit-discriminator", family="translation", guided=True, input=(3, 128, 128),
                description="FUNIT GPPatchMcResDis: pre-activation residual PatchGAN, one output map per class")
class GPPatchMcResDis(nn.Module):
    """``forward(x, y)`` -> (the patch logits of class ``y[i]`` for each image (N, h, w), features); without ``y``,
    every class's (N, num_classes, h, w)."""

    def __init__(self, channels: int = 3, nf: int = 64, n_res_blks: int = 10, num_classes: int = 119):
        super().__init__()
        if n_res_blks % 2 or n_res_blks < 2:
            raise ValueError(f"n_res_blks must be an even number >= 2, got {n_res_blks}")
        self.n_layers = n_res_blks // 2
        cnn_f: list[nn.Module] = [Conv2dBlock(channels, nf, 7, 1, 3, "none", "none", "reflect")]
        for _ in range(self.n_layers - 1):
            nf_out = min(nf * 2, 1024)
            cnn_f += [ActFirstResBlock(nf, nf), ActFirstResBlock(nf, nf_out), nn.ReflectionPad2d(1),
                      nn.AvgPool2d(kernel_size=3, stride=2)]
            nf = nf_out
        nf_out = min(nf * 2, 1024)
        cnn_f += [ActFirstResBlock(nf, nf), ActFirstResBlock(nf, nf_out)]
        self.cnn_f = nn.Sequential(*cnn_f)
        self.cnn_c = nn.Sequential(Conv2dBlock(nf_out, num_classes, 1, 1, activation="lrelu", activation_first=True))
        munit_init(self)

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        feat = self.cnn_f(x)
        out = self.cnn_c(feat)
        return (out if y is None else out[torch.arange(len(out), device=out.device), y]), feat


@ARCHS.register("funit-generator", family="translation", guided=True, input=((3, 128, 128), (3, 128, 128)),
                description="FUNIT FewShotGen: content encoder + class encoder averaged over K shots + AdaIN decoder")
class FewShotGen(nn.Module):
    """``forward(image, class_images)``: ``image`` (N, C, H, W) in the class of the K ``class_images`` (the mean
    of their class codes). Defaults: the reference's animal-faces config."""

    def __init__(self, channels: int = 3, nf: int = 64, n_res_blks: int = 2, nf_mlp: int = 256, latent_dim: int = 64,
                 n_mlp_blks: int = 3, n_downs_content: int = 3, n_downs_class: int = 4):
        super().__init__()
        self.in_channels, self.latent_dim = channels, latent_dim
        self.size_multiple = 2 ** n_downs_content
        self.enc_class_model = StyleEncoder(n_downs_class, channels, nf, latent_dim, "none", "relu", "reflect")
        self.enc_content = ContentEncoder(n_downs_content, n_res_blks, channels, nf, "in_plain", "relu", "reflect")
        self.dec = Decoder(n_downs_content, n_res_blks, self.enc_content.output_dim, channels, "adain", "relu",
                           "reflect", up_norm="in_plain")
        self.mlp = MLP(latent_dim, 2 * sum(self.dec.adain_widths()), nf_mlp, n_mlp_blks, "relu")
        munit_init(self)

    def class_code(self, class_images: Tensor) -> Tensor:
        """The mean class code of K example images: (1, latent_dim, 1, 1)."""
        return self.enc_class_model(class_images).mean(0, keepdim=True)

    def decode(self, content: Tensor, class_code: Tensor) -> Tensor:
        return self.dec(content, self.mlp(class_code))

    def forward(self, image: Tensor, class_images: Tensor) -> Tensor:
        return self.decode(self.enc_content(image), self.class_code(class_images).expand(len(image), -1, -1, -1))


def generator_from_state_dict(state: dict[str, Tensor], what: str = "checkpoint") -> FewShotGen:
    """A FewShotGen sized from the reference's keys and shapes (eval mode)."""
    try:
        first = state["enc_content.model.0.conv.weight"]
        downs = sum(1 for k in state if k.startswith("enc_content.model.") and k.endswith(".conv.weight")
                    and k.count(".") == 4) - 1
        n_res = len({k.split(".")[4] for k in state if k.startswith(f"enc_content.model.{downs + 1}.model.")})
        class_downs = sum(1 for k in state if k.startswith("enc_class_model.model.") and k.endswith(".conv.weight"))
        mlp = [k for k in state if k.startswith("mlp.model.") and k.endswith(".fc.weight")]
        net = FewShotGen(first.shape[1], first.shape[0], n_res, state["mlp.model.0.fc.weight"].shape[0],
                         state["mlp.model.0.fc.weight"].shape[1], len(mlp), downs, class_downs - 1)
    except KeyError as exc:
        raise WeightsError(f"{what}: not a FUNIT generator (no {exc.args[0]})") from None
    return load_strict(net, state, what).eval()
