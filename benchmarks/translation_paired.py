"""pix2pix on a CPU-sized built-in task: the paper's ablations, training speed against a reference-style loop,
inference speed, and a figure; pix2pixHD and SPADE briefly trained on label maps, and their figure (issue #11).

    python benchmarks/translation_paired.py                      # everything but labels (~20 min on one core)
    python benchmarks/translation_paired.py --part quality --seeds 0   # one seed of the ablations
    python benchmarks/translation_paired.py --part speed
    python benchmarks/translation_paired.py --part table        # print the tables from the saved results
    python benchmarks/translation_paired.py --part labels             # pix2pixHD + SPADE, seeds 0-2 (~35 CPU-minutes)

quality: edges2photos at 64 px (Canny edges -> crops of the scikit-image photos; training crops from the left three
quarters of each photo, the 256 test crops from the right quarter), the shipped CPU recipe
(configs/translate/pix2pix_edges2photos.yaml: U-Net ngf 16, batch 4) for 1000 steps (the recipe's 2000 halved;
the second half decaying linearly) with
  * the objective: L1 only / cGAN only / L1 + cGAN (70x70 PatchGAN), the pix2pix paper's Table 1;
  * the PatchGAN receptive field (L1 + cGAN): 1x1 (PixelGAN), 16x16, 34x34, 70x70 (at 64 px the 70x70 patches
    already cover the whole image: the paper's full-image "ImageGAN" case); the paper's Table 3.
Scored on the held-out crops (G as the reference tests it: dropout on): L1, PSNR, SSIM to the ground truth, and
FID / KID in VGG16-HED features (relu5_3, global average pool, 512-d; the offline VGG that pixforge ships, since
the Inception weights are not on this machine). Seeds 0, 1, 2; mean ± std.

speed: one pix2pix training step (unet_256 + 70x70 PatchGAN, batch 1, 256 px, edges2photos pairs) in pixforge
(GanTask: fused Adam, D frozen in the G step, one G forward, losses synced once per log interval; fp32, and bf16
autocast with D channels-last) against a loop written as pytorch-CycleGAN-and-pix2pix writes
``Pix2PixModel.optimize_parameters`` (same networks and data, per-step ``.item()`` logging), interleaved, medians
of 3 repeats of 4 steps; and images/s of ``pixforge translate`` with unet_256 at 256 and 1024 px. The quality
part's ``L1+cGAN (70x70), bf16`` variant is the bf16 recipe's quality against fp32's. Results:
benchmarks/out/translation_paired/*.json; figure: docs/img/.

labels: ``labels2shapes`` at 64 px (one-hot 4-class label maps + instance edges -> shapes rendered as textures),
the recipes configs/translate/{pix2pixhd,spade}_labels2shapes.yaml for 400 steps (of their 1500; the second half
decaying linearly), scored on 64 held-out scenes (L1, PSNR, SSIM; G in eval()). Results:
benchmarks/out/translation_labels/*.json; figure docs/img/labels2shapes_pix2pixhd_spade.png.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "out" / "translation_paired"
FIGURE = ROOT / "docs" / "img" / "pix2pix_edges2photos.png"
RECIPE = ROOT / "pixforge" / "configs" / "translate" / "pix2pix_edges2photos.yaml"
TEST_ITEMS, TEST_SEED, FLOOR_SEED = 256, 12345, 54321
STEPS = 1000  # the recipe's 2000 halved to fit 18 runs into the CPU time of a shared 2-core machine
LABELS_OUT = ROOT / "benchmarks" / "out" / "translation_labels"
LABELS_FIGURE = ROOT / "docs" / "img" / "labels2shapes_pix2pixhd_spade.png"
LABEL_TASKS, LABEL_STEPS, LABEL_TEST_ITEMS = ("pix2pixhd", "spade"), 400, 64  # 400: a few CPU-minutes each

#: name -> config overrides of the CPU recipe
VARIANTS = {
    "L1": {"gan": 0.0},
    "cGAN": {"l1": 0.0},
    "L1+cGAN (70x70)": {},
    "L1+cGAN, 1x1 (PixelGAN)": {"netD": "pixel"},
    "L1+cGAN, 16x16": {"netD": "n_layers", "n_layers_D": 1},
    "L1+cGAN, 34x34": {"netD": "n_layers", "n_layers_D": 2},
    "L1+cGAN (70x70), bf16": {"loop.amp": True},
}
OBJECTIVE = ("L1", "cGAN", "L1+cGAN (70x70)")
FIELDS = ("L1+cGAN, 1x1 (PixelGAN)", "L1+cGAN, 16x16", "L1+cGAN, 34x34", "L1+cGAN (70x70)")
PRECISION = ("L1+cGAN (70x70)", "L1+cGAN (70x70), bf16")


# ------------------------------------------------------------------------------------------------ quality
def test_set(seed: int = TEST_SEED) -> dict[str, torch.Tensor]:
    from pixforge.data.paired import edges2photos
    from pixforge.tasks.translation import PairItems

    return PairItems(edges2photos(size=64, length=TEST_ITEMS, seed=seed, split="test")).first(TEST_ITEMS)


def vgg_features(images: torch.Tensor) -> torch.Tensor:
    """VGG16-HED relu5_3, averaged over space: (N, 512) for images in [-1, 1]."""
    from pixforge.nn.vgg import create_vgg

    global _VGG
    if "_VGG" not in globals():
        _VGG = create_vgg(["relu5_3"], weights="vgg16-hed").eval()
    with torch.no_grad():
        return torch.cat([_VGG((images[i:i + 32] + 1) / 2)["relu5_3"].mean((2, 3))
                          for i in range(0, len(images), 32)]).double()


def distances(fake: torch.Tensor, real_features: torch.Tensor) -> dict[str, float]:
    from pixforge.metrics.fid import fid_from_features, kernel_inception_distance

    f = vgg_features(fake).numpy()
    kid, _ = kernel_inception_distance(f, real_features.numpy(), subsets=50, subset_size=TEST_ITEMS // 2)
    return {"fid": fid_from_features(f, real_features.numpy()), "kid": kid}


def train_variant(name: str, seed: int, out: Path, steps: int | None = None) -> dict:
    from pixforge.config import load_config
    from pixforge.tasks.translation import Pix2PixTask, paired_scores, translate_all
    from pixforge.train import run

    overrides = {**VARIANTS[name], "loop.seed": seed, "loop.out": str(out), "loop.overwrite": True,
                 "loop.progress": False, "loop.tensorboard": False, "loop.sample_every": 0, "loop.val_every": 0,
                 "loop.device": "cpu", "sample_items": 0}
    steps = steps or STEPS
    overrides.update({"loop.steps": steps, "loop.lr_decay_start": steps // 2})
    cfg = load_config(Pix2PixTask.Config, RECIPE, overrides)
    t0 = time.process_time()
    task, result = run(Pix2PixTask, cfg)
    seconds = time.process_time() - t0
    test = test_set()
    out_images = translate_all(task.g, test["A"])
    scores = paired_scores(out_images, test["B"])
    scores.update(distances(out_images, vgg_features(test["B"])))
    torch.save({"inputs": test["A"][:8], "outputs": out_images[:8], "targets": test["B"][:8]},
               OUT / f"samples_{slug(name)}_seed{seed}.pt")
    return {"variant": name, "seed": seed, "steps": result.step, "cpu_seconds": round(seconds, 1), **scores}


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def results() -> list[dict]:
    """Every finished run: quality.json and the per-seed files (seeds can run in parallel processes)."""
    rows = {}
    for path in sorted(OUT.glob("quality*.json")):
        for row in json.loads(path.read_text()):
            rows[row["variant"], row["seed"]] = row
    return list(rows.values())


def quality(seeds: list[int], variants: list[str], steps: int | None = None) -> None:
    for seed in seeds:
        path = OUT / (f"quality-seed{seed}.json" if steps is None else "smoke.json")
        for name in variants:
            if any(r["variant"] == name and r["seed"] == seed for r in results()) and steps is None:
                continue
            row = train_variant(name, seed, OUT / "runs" / f"{slug(name)}_seed{seed}", steps)
            print(json.dumps(row), flush=True)
            mine = json.loads(path.read_text()) if path.is_file() else []
            path.write_text(json.dumps(mine + [row], indent=1))
    floor = OUT / "floor.json"
    if not floor.is_file():  # FID/KID between two independent held-out sets: the lowest a model can reach
        other = test_set(FLOOR_SEED)["B"]
        scores = distances(other, vgg_features(test_set()["B"]))
        floor.write_text(json.dumps(scores))


def cell(values: list[float], digits: int) -> str:
    """One value, or mean ± std (sample std) over seeds."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def table() -> str:
    rows = results()
    floor = json.loads((OUT / "floor.json").read_text()) if (OUT / "floor.json").is_file() else None

    lines = []
    for title, names in (("Objective (70x70 PatchGAN where there is a D)", OBJECTIVE),
                         ("PatchGAN receptive field (L1 + cGAN)", FIELDS),
                         ("Precision (L1 + cGAN, 70x70): fp32 against bfloat16 autocast", PRECISION)):
        lines += [f"**{title}**", "",
                  "| variant | seeds | L1 ↓ | PSNR (dB) ↑ | SSIM ↑ | FID (VGG16-HED) ↓ | KID / 1000 ↓ | CPU s / run |",
                  "|---|---|---|---|---|---|---|---|"]
        for name in names:
            got = [r for r in rows if r["variant"] == name]
            if not got:
                continue
            col = lambda k: [r[k] for r in got]  # noqa: E731
            lines.append(f"| {name} | {len(got)} | {cell(col('l1'), 4)} | {cell(col('psnr'), 2)} | "
                         f"{cell(col('ssim'), 3)} | {cell(col('fid'), 0)} | {cell([v / 1000 for v in col('kid')], 0)} | "
                         f"{cell(col('cpu_seconds'), 0)} |")
        lines.append("")
    if floor:
        lines.append(f"Floor (a second, independent set of 256 held-out crops against the test crops): FID "
                     f"{floor['fid']:.0f}, KID / 1000 {floor['kid'] / 1000:.0f}.")
    return "\n".join(lines)


def figure(seed: int = 0) -> Path:
    """Rows: held-out edge maps | L1 | cGAN | L1 + cGAN | ground truth (seed 0's networks)."""
    from pixforge.io import save_image
    from pixforge.tasks.translation import translation_grid

    runs = {name: torch.load(OUT / f"samples_{slug(name)}_seed{seed}.pt") for name in OBJECTIVE}
    first = runs[OBJECTIVE[-1]]
    n = 6
    columns = [first["inputs"][:n]] + [runs[name]["outputs"][:n] for name in OBJECTIVE] + [first["targets"][:n]]
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    return save_image(translation_grid(*columns), FIGURE)


# ------------------------------------------------------------------------------------------------ label maps
def train_labels(name: str, seed: int, steps: int, out: Path) -> dict:
    """pix2pixHD or SPADE with its labels2shapes CPU recipe for ``steps`` steps, scored on held-out scenes (run
    folder and samples in ``out``)."""
    from pixforge.config import load_config
    from pixforge.registry import TASKS
    from pixforge.tasks.translation import PairItems, open_pairs, paired_scores, translate_all, with_edges
    from pixforge.train import run

    task_class = TASKS.get(name)
    overrides = {"loop.seed": seed, "loop.out": str(out / f"{name}-s{seed}"), "loop.overwrite": True,
                 "loop.progress": False, "loop.tensorboard": False, "loop.sample_every": 0, "loop.val_every": 0,
                 "loop.device": "cpu", "loop.steps": steps, "loop.lr_decay_start": steps // 2, "sample_items": 0,
                 "val_items": 0}
    cfg = load_config(task_class.Config, RECIPE.parent / f"{name}_labels2shapes.yaml", overrides)
    t0 = time.process_time()
    task, result = run(task_class, cfg)
    seconds = time.process_time() - t0
    test = PairItems(open_pairs(cfg.data, cfg.size, "test", seed, length=LABEL_TEST_ITEMS)).first(LABEL_TEST_ITEMS)
    outputs = translate_all(task.g, with_edges(test, task.edges))
    torch.save({"labels": test["A"][:8], "outputs": outputs[:8], "targets": test["B"][:8]},
               out / f"samples_{name}_seed{seed}.pt")
    return {"task": name, "seed": seed, "steps": result.step, "cpu_seconds": round(seconds, 1),
            "test_items": len(outputs), **paired_scores(outputs, test["B"])}


def labels(seeds: list[int], steps: int | None = None) -> None:
    """Train the label-map tasks not trained yet for each seed (a smoke test's ``steps`` in a folder of its own),
    print their table (mean ± std over the seeds), then the figure of the first seed: held-out label map |
    pix2pixHD | SPADE | target."""
    from pixforge.io import save_image
    from pixforge.tasks.translation import translation_grid

    out = LABELS_OUT / "smoke" if steps else LABELS_OUT
    out.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        for name in LABEL_TASKS:
            if not steps and (out / f"{name}-s{seed}.json").is_file():
                continue  # done: its results and samples are kept
            row = train_labels(name, seed, steps or LABEL_STEPS, out)
            print(json.dumps(row), flush=True)
            (out / f"{name}-s{seed}.json").write_text(json.dumps(row, indent=1))
    print("| model | seeds | steps | L1 ↓ | PSNR (dB) ↑ | SSIM ↑ | CPU s / run |\n|---|---|---|---|---|---|---|")
    for name in LABEL_TASKS:
        got = [json.loads((out / f"{name}-s{seed}.json").read_text()) for seed in seeds]
        col = lambda k: [r[k] for r in got]  # noqa: E731
        print(f"| {name} | {len(got)} | {got[0]['steps']} | {cell(col('l1'), 3)} | {cell(col('psnr'), 1)} | "
              f"{cell(col('ssim'), 2)} | {cell(col('cpu_seconds'), 0)} |")
    seed = seeds[0]
    runs = {name: torch.load(out / f"samples_{name}_seed{seed}.pt") for name in LABEL_TASKS}
    first, rows = runs[LABEL_TASKS[0]], 5
    columns = [first["labels"][:rows]] + [runs[n]["outputs"][:rows] for n in LABEL_TASKS] + [first["targets"][:rows]]
    if not steps:
        print(f"wrote {save_image(translation_grid(*columns), LABELS_FIGURE)}")


# ------------------------------------------------------------------------------------------------ speed
def reference_step(net_g, net_d, opt_g, opt_d, real_a, real_b, l1_weight: float = 100.0) -> dict[str, float]:
    """``Pix2PixModel.optimize_parameters`` as pytorch-CycleGAN-and-pix2pix writes it (vanilla GAN: BCE with
    logits against target tensors), with the per-step ``get_current_losses()`` (.item() on every loss)."""
    bce, l1 = torch.nn.BCEWithLogitsLoss(), torch.nn.L1Loss()

    def gan(pred, is_real):
        return bce(pred, torch.tensor(1.0 if is_real else 0.0).expand_as(pred))

    fake_b = net_g(real_a)
    for p in net_d.parameters():
        p.requires_grad = True
    opt_d.zero_grad()
    loss_d_fake = gan(net_d(torch.cat((real_a, fake_b), 1).detach()), False)
    loss_d_real = gan(net_d(torch.cat((real_a, real_b), 1)), True)
    loss_d = (loss_d_fake + loss_d_real) * 0.5
    loss_d.backward()
    opt_d.step()
    for p in net_d.parameters():
        p.requires_grad = False
    opt_g.zero_grad()
    loss_g_gan = gan(net_d(torch.cat((real_a, fake_b), 1)), True)
    loss_g_l1 = l1(fake_b, real_b) * l1_weight
    loss_g = loss_g_gan + loss_g_l1
    loss_g.backward()
    opt_g.step()
    return {k: float(v.item()) for k, v in (("G_GAN", loss_g_gan), ("G_L1", loss_g_l1), ("D_real", loss_d_real),
                                            ("D_fake", loss_d_fake))}


def images_per_second(net: torch.nn.Module, size: int, repeats: int, warm_up: bool = True) -> float:
    """1 / the median time of ``pixforge translate``'s Translator on one random ``size`` px image (CPU)."""
    from pixforge.translate import Translator

    run, x = Translator(net, "cpu"), torch.rand(1, 3, size, size)
    if warm_up:
        run(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - t0)
    return 1 / statistics.median(times)


def speed(repeats: int = 3, steps: int = 4) -> dict:
    """Seconds per step of the reference-style loop and of pixforge's task in fp32 (the default) and with bf16
    autocast (``loop.amp=true``: D channels-last on a CPU), same initial networks and data, interleaved."""
    from pixforge.config import load_config
    from pixforge.models.pix2pix import UnetGenerator
    from pixforge.tasks.translation import Pix2PixTask, PairItems
    from pixforge.train.data import item_keys

    def task(**overrides) -> Pix2PixTask:
        cfg = load_config(Pix2PixTask.Config, ROOT / "pixforge" / "configs" / "translate" / "pix2pix.yaml", {
            "data": "edges2photos", "loop.workers": 0, "loop.device": "cpu", "loop.steps": 1000, "val_items": 0,
            "sample_items": 0, **overrides})
        torch.manual_seed(0)
        return Pix2PixTask.from_config(cfg, torch.device("cpu"))

    ours = {"pixforge_fp32": task(), "pixforge_bf16": task(**{"loop.amp": True})}
    first = ours["pixforge_fp32"]
    net_g, net_d = copy.deepcopy(first.g).train(), copy.deepcopy(first.d).train()
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    items: PairItems = first.data.images

    def reference(step):
        batch = [items[k] for k in item_keys(first.data.order, step)]
        return reference_step(net_g, net_d, opt_g, opt_d, torch.stack([b["A"] for b in batch]),
                              torch.stack([b["B"] for b in batch]))

    loops = {"reference": reference, **{name: t.train_step for name, t in ours.items()}}
    for run in loops.values():  # warm-up
        run(0)
    times: dict[str, list[float]] = {name: [] for name in loops}
    step = 1
    for _ in range(repeats):
        for name, run in loops.items():
            t0 = time.perf_counter()
            for i in range(steps):
                logs = run(step + i)
            {k: float(v) for k, v in logs.items()}  # what fit does once per log interval
            times[name].append((time.perf_counter() - t0) / steps)
        step += steps
    result = {f"{name}_s_per_step": t for name, t in times.items()}
    for name in ours:
        result[f"ratio_{name}"] = statistics.median(times["reference"]) / statistics.median(times[name])
    g = UnetGenerator(3, 3, 8)  # unet_256, untrained: speed only
    for size in (256, 1024):
        result[f"translate_{size}px_images_per_s"] = images_per_second(g, size, repeats)
    result["threads"] = torch.get_num_threads()
    (OUT / "speed.json").write_text(json.dumps(result, indent=1))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("all", "quality", "speed", "figure", "table", "labels"), default="all")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variants", default=";".join(VARIANTS), help="names separated by ';'")
    parser.add_argument("--force", action="store_true", help="measure the speed again")
    parser.add_argument("--steps", type=int, default=None, help="smoke test: this many steps (results not kept)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("PIXFORGE_OFFLINE", "1")
    OUT.mkdir(parents=True, exist_ok=True)
    if args.part == "labels":
        return labels([int(seed) for seed in args.seeds.split(",")], args.steps)
    if args.part in ("all", "quality"):
        quality([int(s) for s in args.seeds.split(",")], args.variants.split(";"), args.steps)
        if args.steps:
            return
    if args.part in ("all", "speed") and (args.force or not (OUT / "speed.json").is_file()):
        print(json.dumps(speed(), indent=1))
    if args.part in ("all", "figure", "quality") and all(
            (OUT / f"samples_{slug(n)}_seed0.pt").is_file() for n in OBJECTIVE):
        print(f"wrote {figure()}")
    if args.part in ("all", "quality", "table"):
        print(table())


if __name__ == "__main__":
    main()
