"""BicycleGAN: the networks in the reference layout (parameter counts written out by hand from its definitions),
the KL and reparameterisation, the loss wiring of one step, an exact resume, and translation from a run and from
a reference-layout generator file."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pixforge.config import load_config
from pixforge.models import bicyclegan as bg
from pixforge.multimodal import BicycleGan, load_model, translate_guided
from pixforge.registry import TASKS
from pixforge.tasks.multidomain import lsgan_d, lsgan_g
from pixforge.train import run

from gan_fakes import resumes_exactly

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"ngf": 4, "nef": 4, "ndf": 4, "nz": 3, "num_ds": 2, "d_layers": 2, "batch_size": 4}


def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_parameter_counts_of_the_edges2shoes_networks():
    # G_Unet_add_all(3, 3, nz=8, num_downs=8, ngf=64): per level (input + 8) x inner x 16 + inner for the down conv,
    # (2 x inner, or inner at the bottom) x outer x 16 + outer for the transposed conv
    levels = [(3, 3, 64), (64, 64, 128), (128, 128, 256), (256, 256, 512)] + [(512, 512, 512)] * 4
    expected_g = sum((i + 8) * n * 16 + n + (n if k == 7 else 2 * n) * o * 16 + o
                     for k, (i, o, n) in enumerate(levels))
    assert count(bg.UnetGenerator(3, 3, 8, 8, 64, use_dropout=True)) == expected_g == 54_794_627
    # E_ResNet(3, 8, 64, n_blocks=5): 4x4 conv 3 -> 64; blocks 64->128, 128->192, 192->256, 256->256 (two 3x3 convs
    # and a 1x1 shortcut each); fc and fcVar 256 -> 8
    blocks = sum(i * i * 9 + i + i * o * 9 + o + i * o + o for i, o in ((64, 128), (128, 192), (192, 256), (256, 256)))
    assert count(bg.ResNetEncoder(3, 8, 64, 5)) == 3 * 64 * 16 + 64 + blocks + 2 * (256 * 8 + 8) == 2_590_032
    # D_NLayersMulti(3, 64, n_layers=3, num_D=2): PatchGANs of widths 64 and 32, every conv with a bias
    def patch(w):
        return 3 * w * 16 + w + w * 2 * w * 16 + 2 * w + 2 * w * 4 * w * 16 + 4 * w + 4 * w * 8 * w * 16 + 8 * w \
            + 8 * w * 16 + 1
    assert count(bg.MultiscaleDiscriminator(3, 64, 3, num_D=2)) == patch(64) + patch(32) == 3_458_978


def test_reference_layout_and_z_at_every_level():
    g = bg.UnetGenerator(3, 3, 2, 6, 4, use_dropout=True)
    keys = list(g.state_dict())
    assert keys[:4] == ["model.down.0.weight", "model.down.0.bias", "model.submodule.down.1.weight",
                        "model.submodule.down.1.bias"]
    convs = [m for m in g.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.in_channels for c in convs] == [3 + 2, 4 + 2, 8 + 2, 16 + 2, 32 + 2, 32 + 2]  # all see z
    dropouts = [name for name, m in g.named_modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts == ["model" + ".submodule" * 4 + ".up.3"]  # only the non-innermost 8 ngf levels
    e = bg.ResNetEncoder(3, 2, 4, 2)
    assert list(e.state_dict())[:4] == ["conv.0.weight", "conv.0.bias", "conv.1.conv.2.weight", "conv.1.conv.2.bias"]
    assert e.input_size == 32 and e(torch.rand(2, 3, 32, 32))[0].shape == (2, 2)
    d = bg.MultiscaleDiscriminator(3, 8, 2, num_D=2)
    assert [k for k in d.state_dict() if k.endswith(".0.weight")] == ["model_0.0.weight", "model_1.0.weight"]
    x, z = torch.rand(2, 3, 64, 64) * 2 - 1, torch.randn(2, 2)
    g.eval()
    out = g(x, z)
    assert out.shape == (2, 3, 64, 64) and out.abs().max() <= 1
    assert not torch.allclose(out, g(x, torch.randn(2, 2)))  # z changes the output


def test_where_add_input_takes_z_with_the_input_only():
    # G_Unet_add_input(3, 3, nz=8, num_downs=8, ngf=64): only the outermost down conv sees the 8 code channels
    levels = [(3, 3, 64), (64, 64, 128), (128, 128, 256), (256, 256, 512)] + [(512, 512, 512)] * 4
    expected = sum((i + (8 if k == 0 else 0)) * n * 16 + n + (n if k == 7 else 2 * n) * o * 16 + o
                   for k, (i, o, n) in enumerate(levels))
    assert count(bg.UnetGenerator(3, 3, 8, 8, 64, use_dropout=True, where_add="input")) == expected == 54_417_795
    g = bg.UnetGenerator(3, 3, 2, 6, 4, use_dropout=True, where_add="input").eval()
    convs = [m for m in g.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.in_channels for c in convs] == [3 + 2, 4, 8, 16, 32, 32]
    dropouts = [name for name, m in g.named_modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts == ["model" + ".submodule" * 4 + ".up.3"]  # as G_Unet_add_input: the num_downs - 5 8-ngf ones
    x, z = torch.rand(2, 3, 64, 64) * 2 - 1, torch.randn(2, 2)
    h = g.model.down(bg.tile(z, x))  # z enters with the image, nowhere else
    expected = g.model.up(g.model.submodule(h, torch.full((2, 2), float("nan"))))
    assert torch.allclose(g(x, z), expected, atol=1e-6) and not torch.allclose(g(x, z), g(x, -z))
    with pytest.raises(Exception, match="where_add=input"):
        bg.generator_from_state_dict(g.state_dict())  # the code length is the encoder's
    assert torch.equal(bg.generator_from_state_dict(g.state_dict(), nz=2).eval()(x, z), g(x, z))
    with pytest.raises(Exception, match="where_add"):
        config(where_add="middle")


def reference_add_input_state(input_nc: int, output_nc: int, nz: int, num_downs: int, ngf: int) -> dict:
    """junyanz/BicycleGAN's ``G_Unet_add_input`` state dict (instance norm: no tensors; ``upsample="basic"``),
    random values. Its UnetBlocks from the outermost in: (input_nc + nz, output_nc, ngf), (ngf, ngf, 2 ngf),
    (2 ngf, 2 ngf, 4 ngf), (4 ngf, 4 ngf, 8 ngf), num_downs - 5 of (8 ngf)^3, the innermost (8 ngf)^3, each
    (input, outer, inner); ``model`` indices: outermost [conv, submodule, ReLU, convT, tanh], middle [LeakyReLU, conv,
    norm, submodule, ReLU, convT, norm(, dropout)], innermost [LeakyReLU, conv, ReLU, convT, norm]."""
    g = torch.Generator().manual_seed(0)
    w = 8 * ngf
    blocks = [(input_nc + nz, output_nc, ngf), (ngf, ngf, 2 * ngf), (2 * ngf, 2 * ngf, 4 * ngf), (4 * ngf, 4 * ngf, w)]
    blocks += [(w, w, w)] * (num_downs - 5) + [(w, w, w)]
    state, prefix = {}, "model.model."
    for k, (cin, outer, inner) in enumerate(blocks):
        innermost = k == len(blocks) - 1
        down, up, sub = (0, 3, 1) if k == 0 else (1, 3, None) if innermost else (1, 5, 3)
        state[f"{prefix}{down}.weight"] = torch.randn(inner, cin, 4, 4, generator=g) * 0.2
        state[f"{prefix}{down}.bias"] = torch.randn(inner, generator=g) * 0.1
        state[f"{prefix}{up}.weight"] = torch.randn(inner if innermost else 2 * inner, outer, 4, 4, generator=g) * 0.2
        state[f"{prefix}{up}.bias"] = torch.randn(outer, generator=g) * 0.1
        prefix += f"{sub}.model."
    return state


def reference_add_input_forward(state: dict, x: torch.Tensor, z: torch.Tensor, num_downs: int) -> torch.Tensor:
    """G_Unet_add_input.forward written out: z tiled onto the input; each inner block's in-place LeakyReLU also
    changes the input that its skip connection concatenates."""
    def block(x, prefix, level):
        def conv(i, transposed=False):
            op = F.conv_transpose2d if transposed else F.conv2d
            return lambda h: op(h, state[f"{prefix}{i}.weight"], state[f"{prefix}{i}.bias"], stride=2, padding=1)

        if level == 0:
            h = block(conv(0)(x), prefix + "1.model.", 1)
            return torch.tanh(conv(3, True)(F.relu(h)))
        x = F.leaky_relu(x, 0.2)
        h = conv(1)(x)
        if level == num_downs - 1:
            h = F.instance_norm(conv(3, True)(F.relu(h)))
        else:
            h = F.instance_norm(conv(5, True)(F.relu(block(F.instance_norm(h), prefix + "3.model.", level + 1))))
        return torch.cat([h, x], 1)

    return block(torch.cat([x, z[:, :, None, None].expand(-1, -1, *x.shape[-2:])], 1), "model.model.", 0)


def test_loads_the_references_where_add_input_files(tmp_path):
    from pixforge.errors import WeightsError

    nz, downs = 3, 6
    state = reference_add_input_state(3, 2, nz, downs, 2)
    g = bg.generator_from_state_dict(state, nz=nz)
    assert g.where_add == "input" and g.num_downs == downs and not g.training
    x, z = torch.rand(2, 3, 64, 64) * 2 - 1, torch.randn(2, nz)
    with torch.no_grad():
        assert torch.allclose(g(x, z), reference_add_input_forward(state, x, z, downs), atol=1e-5)
    keys = bg.unet_block_keys(downs)  # every key consumed, and back: the same dict
    back = {keys[k]: v for k, v in g.state_dict().items()}
    assert back.keys() == state.keys() and all(torch.equal(back[k], state[k]) for k in state)
    with pytest.raises(WeightsError, match="where_add=input"):
        bg.generator_from_state_dict(state)  # the code length is the encoder's
    with pytest.raises(WeightsError, match="unexpected model.model.1.model.2.weight"):  # a batch norm's: not ours
        bg.generator_from_state_dict({**state, "model.model.1.model.2.weight": torch.ones(4)}, nz=nz)
    # the reference's files: G and E side by side, read with torch.load(weights_only=True)
    e = bg.ResNetEncoder(3, nz, 4, 3).eval()
    torch.save(state, tmp_path / "latest_net_G.pth")
    torch.save(e.state_dict(), tmp_path / "latest_net_E.pth")
    model = load_model(tmp_path / "latest_net_G.pth", "cpu")
    assert isinstance(model, BicycleGan) and model.nets["G"].nz == nz
    src, ref = torch.rand(3, 64, 64), torch.rand(3, 64, 64)
    with torch.no_grad():
        expected = reference_add_input_forward(state, src[None] * 2 - 1, e(ref[None] * 2 - 1)[0], downs)
    assert torch.allclose(translate_guided(src, model, style_image=ref)[0], ((expected + 1) / 2).clamp(0, 1)[0],
                          atol=1e-5)


def test_kl_and_reparameterisation_by_hand():
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2 * torch.log(torch.tensor(2.0)).item()]])
    # -0.5 * [(1 + 0 - 1 - 1) + (1 + ln 4 - 0 - 4)] = -0.5 * (-1 + ln 4 - 3) = 2 - ln 2
    assert bg.kl_divergence(mu, logvar).item() == pytest.approx(2 - torch.log(torch.tensor(2.0)).item())
    torch.manual_seed(0)
    z = bg.reparameterize(mu, logvar)
    torch.manual_seed(0)
    eps = torch.randn(1, 2)
    assert torch.allclose(z, mu + eps * torch.tensor([[1.0, 2.0]]))


def pairs(count: int = 8, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(count, 3, size, size, generator=g) * 2 - 1, torch.rand(count, 3, size, size, generator=g) * 2 - 1


def config(out="unused", steps: int = 1, resume: bool = False, **extra):
    cls = TASKS.get("bicyclegan")
    return load_config(cls.Config, None, {**TINY, **extra, "image_size": 32, "loop.steps": steps, "loop.out": str(out),
                                          "loop.resume": resume, "loop.progress": False, "loop.tensorboard": False,
                                          "loop.device": "cpu", "loop.sample_every": 0, "loop.ckpt_every": 2,
                                          "loop.log_every": 1})


def train(out, steps: int, resume: bool = False):
    return run(TASKS.get("bicyclegan"), config(out, steps, resume), a=pairs()[0], b=pairs()[1])


def build(**extra):
    """The task, not trained."""
    return TASKS.get("bicyclegan").from_config(config(**extra), torch.device("cpu"), *pairs())


def test_one_step_follows_the_reference():
    task = build()
    nets = {k: {n: t.clone() for n, t in m.state_dict().items()} for k, m in task.modules.items()}
    torch.manual_seed(5)
    logs = task.train_step(0)
    # redo the step by hand from the same weights and random draws
    task2 = build()
    for k, m in task2.modules.items():
        m.load_state_dict(nets[k])
    torch.manual_seed(5)
    a, b = task2.pairs.batch(0)
    mu, logvar = task2.E(b[:2])
    z_enc = torch.randn_like(mu) * (0.5 * logvar).exp() + mu
    z_rand = torch.randn(2, 3)
    fake_enc, fake_rand = task2.G(a[:2], z_enc), task2.G(a[:2], z_rand)
    expected = {"g_gan": sum(F.mse_loss(o, torch.ones_like(o)) for o in task2.D(fake_enc)),
                "g_gan2": sum(F.mse_loss(o, torch.ones_like(o)) for o in task2.D2(fake_rand)),
                "kl": -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(), "l1": (fake_enc - b[:2]).abs().mean(),
                "z_l1": (task2.E(fake_rand)[0] - z_rand).abs().mean(),
                "d": sum(F.mse_loss(r, torch.ones_like(r)) + F.mse_loss(f, torch.zeros_like(f))
                         for r, f in zip(task2.D(b[:2]), task2.D(fake_enc)))}
    for key, value in expected.items():
        assert logs[key].item() == pytest.approx(value.item(), rel=1e-5), key
    assert lsgan_g([torch.zeros(2, 1)]).item() == 1.0 and lsgan_d([torch.ones(1)], [torch.ones(1)]).item() == 1.0


def test_conditional_and_shared_discriminator():
    """conditional_D: the Ds see cat(A, B); use_same_D: one D (no D2) whose one Adam step takes d + d2."""
    task = build(conditional_D=True, use_same_D=True)
    assert task.D2 is task.D and set(task.modules) == set(task.optimizers) == {"G", "E", "D"}
    assert task.D.model_0[0].in_channels == 6
    nets = {k: {n: t.clone() for n, t in m.state_dict().items()} for k, m in task.modules.items()}
    torch.manual_seed(5)
    logs = task.train_step(0)
    task2 = build(conditional_D=True, use_same_D=True)
    for k, m in task2.modules.items():
        m.load_state_dict(nets[k])
    torch.manual_seed(5)
    a, b = task2.batch(0)
    mu, logvar = task2.E(b[:2])
    z_enc = torch.randn_like(mu) * (0.5 * logvar).exp() + mu
    fake_enc, fake_rand = task2.G(a[:2], z_enc), task2.G(a[:2], torch.randn(2, 3))
    d = task2.D

    def lsgan(real, fake):
        return sum(F.mse_loss(r, torch.ones_like(r)) + F.mse_loss(f, torch.zeros_like(f))
                   for r, f in zip(d(real), d(fake)))

    cat = lambda x, y: torch.cat([x, y], 1)  # noqa: E731
    assert logs["g_gan2"].item() == pytest.approx(
        sum(F.mse_loss(o, torch.ones_like(o)) for o in d(cat(a[:2], fake_rand))).item(), rel=1e-5)
    d_loss = lsgan(cat(a[:2], b[:2]), cat(a[:2], fake_enc.detach()))
    d2_loss = lsgan(cat(a[2:], b[2:]), cat(a[:2], fake_rand.detach()))
    assert logs["d"].item() == pytest.approx(d_loss.item(), rel=1e-5)
    assert logs["d2"].item() == pytest.approx(d2_loss.item(), rel=1e-5)
    opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt.zero_grad()
    (d_loss + d2_loss).backward()
    opt.step()
    for p, q in zip(d.parameters(), task.D.parameters()):
        assert torch.allclose(p, q, atol=1e-7)


def test_latent_regression_moves_g_only():
    task = build(lambda_l1=0.0, lambda_gan=0.0, lambda_gan2=0.0, lambda_kl=0.0, lr=1e-2)
    before = {k: [p.clone() for p in task.modules[k].parameters()] for k in ("G", "E")}
    task.train_step(0)
    moved = {k: any(not torch.equal(p, q) for p, q in zip(before[k], task.modules[k].parameters())) for k in before}
    assert moved == {"G": True, "E": False}


def test_resume_is_bit_identical(tmp_path, monkeypatch):
    monkeypatch.setattr("pixforge.train.loop.plot_losses", lambda *args, **kwargs: None)
    resumes_exactly(train, tmp_path)


def test_translate_from_a_run_and_a_reference_file(tmp_path, monkeypatch):
    monkeypatch.setattr("pixforge.train.loop.plot_losses", lambda *args, **kwargs: None)
    task, _ = train(tmp_path / "run", 2)
    model = load_model(tmp_path / "run", "cpu")
    assert isinstance(model, BicycleGan)
    x = torch.rand(1, 3, 32, 32)
    outs = translate_guided(x, model, seed=1, n=3)
    assert outs.shape == (1, 3, 3, 32, 32) and not torch.allclose(outs[0, 0], outs[0, 1])
    codes = torch.randn(3, 3, generator=torch.Generator().manual_seed(1))
    g, e = task.G.eval(), task.E.eval()
    with torch.no_grad():
        expected = g(x * 2 - 1, codes[2:])
        ref = torch.rand(1, 3, 32, 32)
        by_ref = g(x * 2 - 1, e(ref * 2 - 1)[0])
    assert torch.allclose(outs[0, 2], ((expected + 1) / 2).clamp(0, 1)[0], atol=1e-6)
    assert torch.allclose(translate_guided(x, model, style_image=ref)[0, 0], ((by_ref + 1) / 2).clamp(0, 1)[0],
                          atol=1e-6)
    assert translate_guided(torch.rand(3, 40, 50), model, seed=0, n=2).shape == (2, 3, 40, 50)  # padded, cropped
    torch.save(task.G.state_dict(), tmp_path / "latest_net_G.pth")  # the reference saves G alone
    released = load_model(tmp_path / "latest_net_G.pth", "cpu")
    assert isinstance(released, BicycleGan) and released.nets["G"].nz == 3
    assert torch.allclose(translate_guided(x, released, seed=1, n=3), outs, atol=1e-6)
    with pytest.raises(Exception, match="no encoder"):
        translate_guided(x, released, style_image=ref)
    torch.save(task.E.state_dict(), tmp_path / "latest_net_E.pth")
    assert bg.encoder_from_state_dict(torch.load(tmp_path / "latest_net_E.pth")).input_size == 32


def write_pairs(root, layout: str, count: int = 6, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` random pairs written as A|B images (``aligned``) or under A/ and B/ (``folders``); returns them
    in [-1, 1] as the PNGs hold them."""
    from pixforge.io import save_image

    g = torch.Generator().manual_seed(1)
    a, b = ((torch.rand(count, 3, size, size, generator=g) * 255).round() / 255 for _ in range(2))
    for i in range(count):
        if layout == "aligned":
            save_image(torch.cat([a[i], b[i]], -1), root / f"{i}.png")
        else:
            save_image(a[i], root / "A" / f"{i}_A.png")
            save_image(b[i], root / "B" / f"{i}_B.png")  # names match without the _A / _B ends
    return a * 2 - 1, b * 2 - 1


@pytest.mark.parametrize("layout", ["aligned", "folders"])
def test_trains_on_a_folder_of_pairs(tmp_path, monkeypatch, layout):
    """Folders in pix2pix's layouts: the batches are the files' pairs (BtoA swaps them), resumes are exact with the
    random crops and flips, and the run translates."""
    monkeypatch.setattr("pixforge.train.loop.plot_losses", lambda *args, **kwargs: None)
    root = tmp_path / "pairs"
    for side in ("A", "B") if layout == "folders" else ():
        (root / side).mkdir(parents=True)
    root.mkdir(exist_ok=True)
    a, b = write_pairs(root, layout)
    whole = {"data": str(root), "augment": False, "loop.workers": 0}
    for direction, (src, dst) in (("AtoB", (a, b)), ("BtoA", (b, a))):
        task = TASKS.get("bicyclegan").from_config(config(**whole, direction=direction), torch.device("cpu"))
        x, y = task.batch(0)
        picked = [int((src - row).abs().flatten(1).amax(1).argmin()) for row in x]
        assert len(set(picked)) == 4 and torch.allclose(x, src[picked], atol=1e-6)
        assert torch.allclose(y, dst[picked], atol=1e-6)  # each input with its own partner
    crops = {"data": str(root), "load_size": 40, "loop.workers": 0, "where_add": "input"}
    split, _ = resumes_exactly(lambda out, steps, resume: run(TASKS.get("bicyclegan"), config(out, steps, resume,
                                                                                              **crops)), tmp_path)
    x, _ = split.batch(1)
    assert x.shape == (4, 3, 32, 32) and not any(torch.allclose(row, img, atol=1e-6) for row in x for img in a)
    model = load_model(tmp_path / "split", "cpu")
    assert model.nets["G"].where_add == "input" and translate_guided(torch.rand(3, 32, 32), model, n=2).shape == (
        2, 3, 32, 32)


def test_refuses_unpaired_builtin_data():
    with pytest.raises(Exception, match="not paired"):
        config(data="digits2mnist")
