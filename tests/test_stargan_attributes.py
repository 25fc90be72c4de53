"""StarGAN on multi-label attributes (CelebA's setting): the list_attr_celeba.txt format on a tiny generated
fixture, batches against the files, one step's BCE classification terms by hand, the reference's test targets,
an exact resume and translation with an attribute vector."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pixforge.config import load_config
from pixforge.data.domains import AttributeImages, attribute_target, read_attributes
from pixforge.errors import BadInputError
from pixforge.io import save_image
from pixforge.models import stargan
from pixforge.multimodal import load_model, translate_guided
from pixforge.registry import TASKS
from pixforge.train import run

from gan_fakes import resumes_exactly

pytestmark = pytest.mark.usefixtures("one_thread")

NAMES = ("5_o_Clock_Shadow", "Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
SELECTED = "Black_Hair,Blond_Hair,Male"


@pytest.fixture
def celeba(tmp_path):
    """Eight 20 x 24 images of one colour each (their identity survives crops and flips), listed with random
    +-1 attributes in list_attr_celeba.txt's layout (count, names, then `file v1 ... v6` padded with spaces)."""
    g = torch.Generator().manual_seed(0)
    values = torch.randint(0, 2, (8, len(NAMES)), generator=g) * 2 - 1
    colours = torch.rand(8, 3, generator=g)
    (tmp_path / "images").mkdir()
    lines = ["8", " ".join(NAMES)]
    for i in range(8):
        name = f"{i + 1:06d}.png"
        save_image(colours[i][:, None, None].expand(3, 24, 20), tmp_path / "images" / name)
        lines.append(name + "".join(f"{int(v):3d}" for v in values[i]))
    (tmp_path / "list_attr.txt").write_text("\n".join(lines) + "\n")
    return tmp_path, values, (colours * 255).round() / 255


def config(root, out="unused", steps: int = 1, resume: bool = False, **extra):
    cls = TASKS.get("stargan")
    return load_config(cls.Config, None, {
        "data": str(root / "images"), "attr_path": str(root / "list_attr.txt"), "selected_attrs": SELECTED,
        "image_size": 16, "conv_dim": 4, "repeat_num": 1, "d_conv_dim": 4, "d_repeat_num": 2, "batch_size": 4,
        "n_critic": 1, "loop.steps": steps, "loop.out": str(out), "loop.resume": resume, "loop.progress": False,
        "loop.tensorboard": False, "loop.device": "cpu", "loop.sample_every": 0, "loop.ckpt_every": 2,
        "loop.log_every": 1, "loop.workers": 0, **extra})


def test_reads_the_attribute_file(celeba):
    root, values, _ = celeba
    files, labels = read_attributes(root / "list_attr.txt", ["Male", "Black_Hair"])
    assert files == [f"{i:06d}.png" for i in range(1, 9)]
    assert torch.equal(labels, (values[:, [4, 1]] == 1).float())
    for selected, match in ((["Bald"], "Bald"), ([], "none")):
        with pytest.raises(BadInputError, match=match):
            read_attributes(root / "list_attr.txt", selected)
    bad = root / "bad.txt"
    bad.write_text("1\nMale Young\n000001.png 1 0\n")
    with pytest.raises(BadInputError, match="bad.txt:3: expected a file name and 2 values of 1 or -1"):
        read_attributes(bad, ["Male"])
    bad.write_text("1\nMale Young\nnope.png 1 -1\n")
    with pytest.raises(BadInputError, match="1 of the 1 images .* missing: nope.png"):
        AttributeImages(root / "images", bad, ["Male"], 16)


def test_attribute_targets_as_the_reference():
    c = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])  # Black_Hair, Blond_Hair, Male
    names = SELECTED.split(",")
    assert attribute_target(c, 1, names).tolist() == [[0, 1, 1], [0, 1, 0]]  # one hair colour, the other off
    assert attribute_target(c, 0, names).tolist() == [[1, 0, 1], [1, 0, 0]]
    assert attribute_target(c, 2, names).tolist() == [[1, 0, 0], [0, 0, 1]]  # any other attribute inverted


def test_one_step_uses_bce_per_attribute(celeba):
    root, values, colours = celeba
    cls = TASKS.get("stargan")
    task = cls.from_config(config(root), torch.device("cpu"))
    assert task.multi_label and task.num_domains == 3 and task.data.names == tuple(SELECTED.split(","))
    assert task.G.c_dim == 3 and task.D.conv2.out_channels == 3
    batch, _ = task.real.batch(0)
    x, y = batch["image"], batch["label"]
    assert x.shape == (4, 3, 16, 16)
    picked = [int(((colours * 2 - 1) - img[:, 0, 0]).abs().sum(1).argmin()) for img in x]
    assert torch.equal(y, (values[picked][:, [1, 2, 4]] == 1).float())  # each image with its own row
    before = {k: {n: t.clone() for n, t in m.state_dict().items()} for k, m in task.modules.items()}
    torch.manual_seed(2)
    logs = task.train_step(0)
    g = stargan.Generator(4, 3, 1, 3)
    d = stargan.Discriminator(16, 4, 3, 2, 3)
    g.load_state_dict(before["G"])
    d.load_state_dict(before["D"])
    torch.manual_seed(2)
    y_trg = y[torch.randperm(4)]
    bce = F.binary_cross_entropy_with_logits
    assert logs["d_cls"].item() == pytest.approx((bce(d(x)[1], y, reduction="sum") / 4).item(), rel=1e-5)
    with torch.no_grad():
        fake_cls = task.D(g(x, y_trg))[1]  # D after its step, G before its own
    assert logs["g_cls"].item() == pytest.approx((bce(fake_cls, y_trg, reduction="sum") / 4).item(), rel=1e-5)


def test_resume_translate_and_samples(celeba, tmp_path, monkeypatch):
    root, _, _ = celeba
    monkeypatch.setattr("pixforge.train.loop.plot_losses", lambda *args, **kwargs: None)
    split, _ = resumes_exactly(lambda out, steps, resume: run(TASKS.get("stargan"), config(root, out, steps, resume)),
                               tmp_path)
    split.sample(tmp_path / "grid.png", 4)
    from PIL import Image

    assert Image.open(tmp_path / "grid.png").size == (2 + 4 * 18, 2 + 4 * 18)  # input + 3 attributes, 4 rows
    model = load_model(tmp_path / "split", "cpu")
    assert model.names == tuple(SELECTED.split(","))
    x = torch.rand(3, 16, 16)
    out = translate_guided(x, model, target_domain="1,0,1")
    with torch.no_grad():
        expected = split.G.eval()(x[None] * 2 - 1, torch.tensor([[1.0, 0.0, 1.0]]))
    assert torch.allclose(out[0], ((expected + 1) / 2).clamp(0, 1)[0], atol=1e-5)
    with pytest.raises(Exception, match="domains"):
        config(root, domains="Male,Young")
