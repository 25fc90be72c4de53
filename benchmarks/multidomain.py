"""Multi-domain and multimodal translation on the built-in digit domains, on a CPU budget, over seeds.

* ``stargan`` on ``mnist-domains`` (MNIST 5k at 32 px in 4 unpaired domains: red, green, blue, bold white): every
  evaluation source is translated to each other domain.
* ``munit`` on ``digits2mnist`` (scikit-learn digits <-> MNIST 5k, 32 px grey): each source is translated to the
  other domain with K = 10 random style codes.
* ``unit`` and ``ugatit`` (light) on ``digits2mnist``: each source to the other domain (one output).
* ``stargan2`` on ``mnist-domains``: every source into every other domain with K = 10 latent codes (code k drawn
  with seed ``EVAL_SEED + k`` through the mapping network; source i uses code i mod K for the accuracies and FID).
* ``funit`` on ``mnist-domains``: the same, the k-th "style" being the class code of the target domain's k-th of
  K fixed reference images (one shot each; the domains are FUNIT's classes here, all seen in training).
* ``cogan`` on ``digits2mnist`` (its 28 px networks): it generates pairs, not translations; ``COGAN_PAIRS`` codes
  from N(0, I) give pairs whose *pair agreement* (both images classified as the same digit: the correspondence
  the CoGAN paper shows) and per-domain FID/KID are measured, the images resized to 32 px for the classifier and
  the real images sent through the same 28 px round trip.
* ``bicyclegan`` on ``edges2photos`` (64 px, paired): no classifier fits photos, so on ``TEST_PAIRS`` held-out
  pairs (crops of the right quarter of each photo, which training never sees): PSNR and VGG feature distance to
  the photo of G(A, E(B)) (its own code) and of G(A, z) for K codes from N(0, I), and the diversity among the K.

Measured (:mod:`pixforge.metrics.translation`), with a *joint* digit classifier per dataset (``pixforge train
classifier``'s network on classes ``domain * 10 + digit``, trained once and cached in
``benchmarks/results/multidomain/classifier-<data>``), on ``SOURCES`` fixed evaluation images per domain
(the same for every seed; the models train on all images, these included):

* label preservation: the share of translations whose most probable digit is the source's;
* target-domain accuracy: the share classified into the target domain;
* FID and KID per (source, target) pair against the target domain's other real images, in the classifier's
  features, averaged over the pairs (StarGAN v2's protocol with classifier features instead of Inception);
* MUNIT, StarGAN v2, FUNIT: diversity, the VGG feature distance (LPIPS-style, no learned heads) averaged over
  the 45 pairs of the 10 outputs of each of ``DIVERSITY_INPUTS`` sources per direction (StarGAN v2 and FUNIT:
  ``2 * DIVERSITY_INPUTS / domains`` evenly spread sources per target domain).

Reference rows on the same images: ``real`` (the evaluation sources of the target domain itself, the FID floor
at this sample size; its diversity is that of groups of K unrelated real images), ``identity`` (the input
returned unchanged), for mnist-domains ``oracle`` (the source digit's strokes re-rendered in the target domain's
look: a perfect translation), for CoGAN ``real, unpaired`` (a real image of each domain, unrelated: chance
agreement) and for edges2photos ``identity`` (the edge map as the photo) and ``other photo`` (an unrelated
held-out photo: realistic but not the input's).

Each run trains with the shipped recipe (``pixforge/configs/translate/<task>_<data>.yaml``) and the smaller
``SETTINGS`` below into ``benchmarks/out/multidomain/<exp>-s<seed>/`` (resumed if stopped), then writes
``benchmarks/results/multidomain/<exp>-s<seed>.json``; a finished run with the same config is skipped.
``--report`` aggregates (mean ± std over seeds) into ``benchmarks/results/multidomain.json`` and
``multidomain_tables.md`` and draws ``docs/img/multidomain_<exp>.png`` from the first seed's run (see
:func:`figure`).

    .venv/bin/python benchmarks/multidomain.py --seeds 0 1 2 --workers 2
    .venv/bin/python benchmarks/multidomain.py --report
    .venv/bin/python benchmarks/multidomain.py --quick      # smoke run: a few steps, one seed, benchmarks/out/

Every worker uses one thread (``torch.set_num_threads(1)``): the machine it was written on had 2 shared cores.
The budgets are in steps, sized to about 5 CPU-minutes per run for StarGAN and MUNIT, about 6 for StarGAN v2
and FUNIT (1,000 steps) and UNIT (1,500, as MUNIT), and to 1–1.5 CPU-minutes for the other three (the time the
shared machine allowed); wall time depends on the machine's load and is recorded with the CPU time. A record
counts (for skipping a run and in the report) only while its settings agree with ``EXPERIMENTS`` (:func:`current`).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "multidomain"
RUNS = ROOT / "out" / "multidomain"
IMAGES = ROOT.parent / "docs" / "img"
SOURCES = 250  # evaluation images per domain
DIVERSITY_INPUTS = 100  # sources per direction whose K outputs are compared
K = 10  # MUNIT outputs per source
EVAL_SEED = 1234  # chooses the evaluation sources, the same for every run
DIGITS = 10

EXPERIMENTS = {
    "stargan": {"task": "stargan", "data": "mnist-domains", "settings": {
        "conv_dim": 16, "repeat_num": 2, "d_conv_dim": 16, "d_repeat_num": 4,
        "loop.steps": 4000, "loop.lr_decay_start": 2000}},
    "munit": {"task": "munit", "data": "digits2mnist", "settings": {
        "dim": 16, "mlp_dim": 64, "n_res": 1, "dis_dim": 16, "dis_layers": 3, "dis_scales": 2, "batch_size": 4,
        "loop.steps": 1500, "loop.lr_step": 750}},
    "unit": {"task": "unit", "data": "digits2mnist", "settings": {
        "dim": 16, "n_res": 1, "dis_dim": 16, "dis_layers": 3, "dis_scales": 2, "batch_size": 4,
        "loop.steps": 1500, "loop.lr_step": 750}},
    "ugatit": {"task": "ugatit", "data": "digits2mnist", "settings": {
        "ngf": 16, "ndf": 16, "n_res": 2, "global_layers": 5, "local_layers": 4,
        "loop.steps": 300, "loop.lr_decay_start": 150}},
    "stargan2": {"task": "stargan2", "data": "mnist-domains", "settings": {
        "dim_in": 16, "max_conv_dim": 64, "mapping_dim": 64, "batch_size": 4, "ds_iter": 1000,
        "loop.steps": 1000}},
    "funit": {"task": "funit", "data": "mnist-domains", "settings": {
        "nf": 16, "nf_mlp": 64, "latent_dim": 16, "dis_nf": 16, "dis_res_blks": 4, "batch_size": 8,
        "loop.steps": 1000}},
    "cogan": {"task": "cogan", "data": "digits2mnist", "settings": {
        "domains": "", "batch_size": 8, "loop.steps": 150}},
    "bicyclegan": {"task": "bicyclegan", "data": "edges2photos", "settings": {
        "ngf": 16, "nef": 16, "ndf": 16, "loop.steps": 400, "loop.lr_decay_start": 200}},
}
MULTI_DOMAIN = ("stargan", "stargan2", "funit")  # translate every source into every other domain
PAIR_GENERATORS = ("cogan",)  # generate pairs from codes rather than translate
PAIRED = ("bicyclegan",)  # paired data (A -> B) without a domain classifier
MULTIMODAL = ("munit", "stargan2", "funit", "bicyclegan")  # K outputs per input: diversity


def config(exp: str, seed: int, out: Path, steps: int | None = None):
    """The shipped recipe, then the benchmark's settings, then ``steps``; quiet, on the CPU, 4 checkpoints."""
    from pixforge.config import load_config
    from pixforge.registry import TASKS

    spec = EXPERIMENTS[exp]
    cls = TASKS.get(spec["task"])
    values = {"data": spec["data"], **spec["settings"], **({"loop.steps": steps} if steps else {})}
    n = int(values["loop.steps"])
    values.update({"loop.seed": seed, "loop.device": "cpu", "loop.log_every": max(1, n // 20),
                   "loop.sample_every": max(1, n // 4), "loop.ckpt_every": max(1, n // 4), "loop.progress": False,
                   "loop.tensorboard": False, "loop.out": str(out)})
    return cls, load_config(cls.Config, cls.default_config(values), values)


def request(cfg) -> dict:
    """What decides a run: its config without the output folder."""
    from pixforge.config import to_dict

    record = to_dict(cfg)
    record["loop"].pop("out")
    return record


# ------------------------------------------------------------------------------------------------------
# Classifier and evaluation images
# ------------------------------------------------------------------------------------------------------

def classifier_dir(data: str, root: Path = RESULTS) -> Path:
    return root / f"classifier-{data}"


def ensure_classifier(data: str, root: Path = RESULTS, steps: int = 1000) -> Path:
    """Train the joint (domain x digit) classifier of ``data`` once; its folder."""
    out = classifier_dir(data, root)
    if (out / "classifier.safetensors").is_file():
        return out
    from pixforge.data.domains import domain_data
    from pixforge.tasks.classifier import train_classifier

    d = domain_data(data)
    work = out.with_name(out.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    train_classifier(d.images, d.domains * DIGITS + d.classes, work, steps=steps, data_name=f"{data} (domain x digit)",
                     device="cpu", progress=False)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("classifier.safetensors", "classifier.json"):
        shutil.move(str(work / name), out / name)
    shutil.rmtree(work, ignore_errors=True)
    return out


@functools.lru_cache(maxsize=2)
def eval_split(data: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(evaluation source indices: SOURCES per domain, reference indices: every other image)."""
    from pixforge.data.domains import domain_data

    d = domain_data(data)
    g = torch.Generator().manual_seed(EVAL_SEED)
    chosen = [idx[torch.randperm(len(idx), generator=g)[:SOURCES]]
              for idx in (d.index(k) for k in range(d.num_domains))]
    sources = torch.cat(chosen)
    mask = torch.ones(len(d.domains), dtype=torch.bool)
    mask[sources] = False
    return sources, mask.nonzero().flatten()


def features(images: torch.Tensor, clf: Path):
    from pixforge.metrics import compute_features

    return compute_features(images, f"classifier:{clf}", batch_size=500, device="cpu", progress=False)


@functools.lru_cache(maxsize=2)
def reference(data: str, clf: Path) -> np.ndarray:
    from pixforge.data.domains import domain_data

    return features(domain_data(data).images[eval_split(data)[1]], clf).features


def scores(data: str, clf: Path, fake: torch.Tensor, src: torch.Tensor, trg: torch.Tensor) -> dict:
    """Label preservation, target-domain accuracy and FID/KID per domain pair of translations ``fake`` of the
    evaluation sources ``src`` (indices into the data) into domains ``trg``."""
    from pixforge.data.domains import domain_data
    from pixforge.metrics.translation import accuracy, joint_marginals, pair_distances

    d = domain_data(data)
    ref_idx = eval_split(data)[1]
    found = features(fake, clf)
    p_domain, p_digit = joint_marginals(found.probs, DIGITS)
    pairs = pair_distances(found.features, d.domains[src], trg, reference(data, clf), d.domains[ref_idx], d.names)
    return {"label_accuracy": accuracy(p_digit, d.classes[src]), "domain_accuracy": accuracy(p_domain, trg),
            "fid": pairs["mean"]["fid"], "kid": pairs["mean"]["kid"], "pairs": pairs}


def cross_pairs(data: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every evaluation source with every other domain: (source indices, target domains)."""
    from pixforge.data.domains import domain_data

    d = domain_data(data)
    sources = eval_split(data)[0]
    src = torch.cat([sources[d.domains[sources] != t] for t in range(d.num_domains)])
    trg = torch.cat([torch.full((int((d.domains[sources] != t).sum()),), t) for t in range(d.num_domains)])
    return src, trg


def baselines(data: str, clf: Path | None) -> dict:
    """The reference rows (see the module docstring)."""
    if data in PAIRED_DATA:
        return paired_baselines()
    from pixforge.data.builtin import mnist5k
    from pixforge.data.domains import DOMAIN_NAMES, domain_data, render_domain

    d = domain_data(data)
    sources = eval_split(data)[0]
    src, trg = cross_pairs(data)
    rows = {"real": scores(data, clf, d.images[sources], sources, d.domains[sources]),
            "identity": scores(data, clf, d.images[src], src, trg)}
    if any(exp in MULTIMODAL and spec["data"] == data for exp, spec in EXPERIMENTS.items()):
        groups = d.images[sources].view(d.num_domains, -1, K, *d.images.shape[1:])  # K unrelated images each
        rows["real"]["diversity"] = statistics.mean(diversity(g) for g in groups)
    if any(exp in PAIR_GENERATORS and spec["data"] == data for exp, spec in EXPERIMENTS.items()):
        a, b = (round_trip(d.images[sources[d.domains[sources] == k]]) for k in (0, 1))
        rows["real, unpaired"] = pair_scores(data, clf, a, b)  # two unrelated real images as a "pair"
    if data == "mnist-domains":  # the domain set renders mnist5k's digits in order: re-render them
        strokes = (mnist5k(size=32, channels=1)[0][src] + 1) / 2
        names = DOMAIN_NAMES[data]
        oracle = torch.cat([render_domain(s[None], names[t]) for s, t in zip(strokes, trg.tolist())])
        rows["oracle"] = scores(data, clf, oracle * 2 - 1, src, trg)
    return rows


# ------------------------------------------------------------------------------------------------------
# Translating with a trained run
# ------------------------------------------------------------------------------------------------------

def diversity(outputs: torch.Tensor) -> float:
    """:func:`pixforge.metrics.translation.pairwise_diversity` of (N, K, C, H, W) outputs in [-1, 1]."""
    from pixforge.metrics.translation import compute_diversity

    return compute_diversity(outputs, device="cpu")


def diversity_metric() -> str:
    from pixforge.metrics.translation import DIVERSITY_NAME, _vgg_distance

    return f"{DIVERSITY_NAME}, VGG16 weights {_vgg_distance('auto', 'cpu').backbone}"


def spread(count: int, n: int = DIVERSITY_INPUTS) -> torch.Tensor:
    """``n`` evenly spaced indices of ``range(count)``."""
    return torch.linspace(0, count - 1, min(n, count)).long()


def styled(exp: str, model, x: torch.Tensor, target: int, k: int, refs: dict) -> torch.Tensor:
    """``x`` (in [0, 1]) translated into domain ``target`` with the run's k-th style: StarGAN has one; StarGAN v2
    the latent code drawn with seed ``EVAL_SEED + k`` through the mapping network; FUNIT the class code of the
    target domain's k-th reference image (one shot)."""
    if exp == "stargan":
        return model(x, target=target)[:, 0]
    if exp == "stargan2":
        return model(x, target=target, seed=EVAL_SEED + k)[:, 0]
    return model(x, style=refs[target][k:k + 1])[:, 0]


def references(data: str) -> dict[int, torch.Tensor]:
    """K fixed reference images (in [0, 1]) per domain, from the images that are not evaluation sources."""
    from pixforge.data.domains import domain_data

    d = domain_data(data)
    ref_idx = eval_split(data)[1]
    g = torch.Generator().manual_seed(EVAL_SEED)
    return {t: (d.images[idx[torch.randperm(len(idx), generator=g)[:K]]] + 1) / 2
            for t, idx in ((t, ref_idx[d.domains[ref_idx] == t]) for t in range(d.num_domains))}


@torch.no_grad()
def translations(exp: str, run_dir: Path) -> dict:
    """What a run translates the evaluation sources into, through ``pixforge translate``'s loader:
    ``{"fake", "src", "trg"}`` and for the multimodal models ``"outputs"`` (inputs, K, C, H, W) per direction or
    target domain."""
    from pixforge.data.domains import domain_data
    from pixforge.multimodal import load_model

    data = EXPERIMENTS[exp]["data"]
    d = domain_data(data)
    model = load_model(run_dir, "cpu")
    out = {"fake": [], "src": [], "trg": [], "outputs": {}}
    if exp in MULTI_DOMAIN:  # every source into every other domain; K styles spread over the sources
        src, trg = cross_pairs(data)
        styles, refs = (1 if exp == "stargan" else K), (references(data) if exp == "funit" else {})
        for t in range(d.num_domains):
            sel = src[trg == t]
            x, which = (d.images[sel] + 1) / 2, torch.arange(len(sel)) % styles
            fake = torch.empty_like(x)
            for k in range(styles):
                fake[which == k] = styled(exp, model, x[which == k], t, k, refs)
            out["fake"].append(fake * 2 - 1)
            out["src"].append(sel)
            out["trg"].append(torch.full((len(sel),), t))
            if styles > 1:
                few = x[spread(len(sel), 2 * DIVERSITY_INPUTS // d.num_domains)]  # as many as two directions
                out["outputs"][d.names[t]] = torch.stack([styled(exp, model, few, t, k, refs) for k in range(K)],
                                                         1) * 2 - 1
        return {**out, **{k: torch.cat(out[k]) for k in ("fake", "src", "trg")}}
    sources = eval_split(data)[0]
    for domain, direction in ((0, "AtoB"), (1, "BtoA")):
        idx = sources[d.domains[sources] == domain]
        many = model((d.images[idx] + 1) / 2, direction, seed=EVAL_SEED, n=K if model.multimodal else 1) * 2 - 1
        if model.multimodal:  # (S, K, C, H, W)
            out["outputs"][direction] = many[:DIVERSITY_INPUTS]
        out["fake"].append(many[torch.arange(len(idx)), torch.arange(len(idx)) % many.shape[1]])  # one style each
        out["src"].append(idx)
        out["trg"].append(torch.full((len(idx),), 1 - domain))
    return {**out, **{k: torch.cat(out[k]) for k in ("fake", "src", "trg")}}


# CoGAN: pairs generated from codes ---------------------------------------------------------------------

COGAN_PAIRS = 1000  # pairs generated for the evaluation


def round_trip(images: torch.Tensor, size: int = 28) -> torch.Tensor:
    """Images in [-1, 1] resized to CoGAN's ``size`` and back to the classifier's 32 px: what the real images
    look like at CoGAN's resolution (the FID floor for its 28 px outputs, brought to 32 px the same way)."""
    from pixforge.io import resize

    return resize(resize((images + 1) / 2, (size, size)), (32, 32)) * 2 - 1


@torch.no_grad()
def cogan_pairs(run_dir: Path, count: int = COGAN_PAIRS) -> tuple[torch.Tensor, torch.Tensor]:
    """The run's generator's pairs for ``count`` codes from N(0, I) (seed EVAL_SEED), in [0, 1] at 28 px."""
    from pixforge.tasks.cogan import pair_generator
    from pixforge.weights import torch_load

    ckpt = run_dir / "checkpoints" / "last.pt"
    gen = pair_generator(torch_load(ckpt, "a checkpoint"), str(ckpt))
    return gen(torch.randn(count, gen.latent_dims, generator=torch.Generator().manual_seed(EVAL_SEED)))


def pair_scores(data: str, clf: Path, a: torch.Tensor, b: torch.Tensor) -> dict:
    """Pairs (a_i, b_i) of domain 0 and 1 images at 32 px in [-1, 1]: pair agreement (both images classified as
    the same digit: CoGAN's correspondence), domain accuracy (each image in its own domain) and FID/KID per domain
    against that domain's other real images seen at 28 px (:func:`round_trip`)."""
    from pixforge.data.domains import domain_data
    from pixforge.metrics.translation import accuracy, fid_kid, joint_marginals

    d = domain_data(data)
    ref_idx = eval_split(data)[1]
    real = features(round_trip(d.images[ref_idx]), clf).features
    found = [features(x, clf) for x in (a, b)]
    (dom_a, dig_a), (dom_b, dig_b) = (joint_marginals(f.probs, DIGITS) for f in found)
    pairs = {d.names[k]: fid_kid(f.features, real[d.domains[ref_idx].numpy() == k]) for k, f in enumerate(found)}
    pairs["mean"] = {k: float(np.mean([v[k] for v in pairs.values()])) for k in ("fid", "kid", "kid_std")}
    return {"pair_agreement": float((dig_a.argmax(1) == dig_b.argmax(1)).mean()),
            "domain_accuracy": (accuracy(dom_a, np.zeros(len(a), int)) + accuracy(dom_b, np.ones(len(b), int))) / 2,
            "fid": pairs["mean"]["fid"], "kid": pairs["mean"]["kid"], "pairs": pairs}


# BicycleGAN: edges -> photos, paired --------------------------------------------------------------------

PAIRED_DATA = ("edges2photos",)
TEST_PAIRS = 100  # held-out edge/photo pairs (crops of the right quarter of each photo)


@functools.lru_cache(maxsize=1)
def test_pairs() -> tuple[torch.Tensor, torch.Tensor]:
    from pixforge.data.paired import edges2photos

    pairs = edges2photos(size=64, length=TEST_PAIRS, seed=EVAL_SEED, split="test")
    return tuple(torch.stack([pairs[i][k] for i in range(len(pairs))]) for k in "AB")


def photo_scores(fake: torch.Tensor, photo: torch.Tensor) -> dict:
    """PSNR (dB, mean over images) and VGG feature distance of outputs to the photos, all in [-1, 1]."""
    from pixforge.metrics.sr import psnr
    from pixforge.metrics.translation import _vgg_distance

    distance = _vgg_distance("auto", "cpu")
    with torch.no_grad():
        vgg = float(torch.cat([distance(f, p) for f, p in zip(fake.split(50), photo.split(50))]).mean())
    return {"psnr": statistics.mean(psnr((f + 1) / 2, (p + 1) / 2) for f, p in zip(fake, photo)), "vgg": vgg}


@torch.no_grad()
def bicycle_scores(run_dir: Path) -> dict:
    """G(A, E(B)) (the photo's own code: reconstruction) and G(A, z) for K codes from N(0, I) against the photo
    (PSNR, VGG feature distance); diversity among the K. One VGG pass per test pair serves all three."""
    from pixforge.metrics.sr import psnr
    from pixforge.metrics.translation import _vgg_distance, feature_distance
    from pixforge.multimodal import load_model

    a, b = test_pairs()
    model = load_model(run_dir, "cpu")
    g, e = model.nets["G"], model.nets["E"]
    encoded = torch.cat([g(x, e(y)[0]) for x, y in zip(a.split(50), b.split(50))])
    outs = model((a + 1) / 2, seed=EVAL_SEED, n=K) * 2 - 1  # (N, K, C, H, W)
    vgg = _vgg_distance("auto", "cpu")
    first, second = torch.triu_indices(K, K, 1)
    dist_enc, dist_rnd, div = [], [], []
    for enc, group, photo in zip(encoded, outs, b):
        f = vgg.features(torch.cat([photo[None], enc[None], group]))
        dist_enc.append(float(feature_distance([t[1:2] for t in f], [t[:1] for t in f])))
        dist_rnd.append(float(feature_distance([t[2:] for t in f], [t[:1] for t in f]).mean()))
        div.append(float(feature_distance([t[2:][first] for t in f], [t[2:][second] for t in f]).mean()))
    to01 = lambda x: (x + 1) / 2  # noqa: E731
    return {"psnr_encoded": statistics.mean(psnr(to01(x), to01(y)) for x, y in zip(encoded, b)),
            "vgg_encoded": statistics.mean(dist_enc),
            "psnr_random": statistics.mean(psnr(to01(x), to01(y)) for group, y in zip(outs, b) for x in group),
            "vgg_random": statistics.mean(dist_rnd), "diversity": statistics.mean(div),
            "diversity_metric": diversity_metric()}


def paired_baselines() -> dict:
    """``identity`` (the edge map as the output), ``other photo`` (an unrelated held-out photo: realistic, not
    the input's), ``real`` diversity (groups of K unrelated photos)."""
    a, b = test_pairs()
    return {"identity": {f"{k}_random": v for k, v in photo_scores(a, b).items()},
            "other photo": {f"{k}_random": v for k, v in photo_scores(b.roll(1, 0), b).items()},
            "real": {"diversity": diversity(b[:len(b) // K * K].view(-1, K, *b.shape[1:]))}}


def evaluate(exp: str, run_dir: Path, clf: Path | None) -> dict:
    data = EXPERIMENTS[exp]["data"]
    if exp in PAIRED:
        return bicycle_scores(run_dir)
    if exp in PAIR_GENERATORS:
        return pair_scores(data, clf, *(resize_to_32(x) for x in cogan_pairs(run_dir)))
    found = translations(exp, run_dir)
    result = scores(data, clf, found["fake"], found["src"], found["trg"])
    if found["outputs"]:
        result["diversity"] = statistics.mean(diversity(outs) for outs in found["outputs"].values())
        result["diversity_metric"] = diversity_metric()
    return result


def resize_to_32(x01: torch.Tensor) -> torch.Tensor:
    from pixforge.io import resize

    return resize(x01, (32, 32)) * 2 - 1


# ------------------------------------------------------------------------------------------------------
# Runs
# ------------------------------------------------------------------------------------------------------

def record_path(exp: str, seed: int, root: Path) -> Path:
    return root / f"{exp}-s{seed}.json"


def train_data(exp: str) -> dict:
    """The task's data argument: the domain set (CoGAN's at its 28 px); BicycleGAN builds its pairs itself."""
    from pixforge.data.domains import domain_data

    if exp in PAIRED:
        return {}
    return {"data": domain_data(EXPERIMENTS[exp]["data"], 28 if exp in PAIR_GENERATORS else 0)}


def run_one(job: tuple) -> str:
    exp, seed, root, runs, steps = job
    torch.set_num_threads(1)
    from pixforge.train import run

    out = runs / f"{exp}-s{seed}"
    cls, cfg = config(exp, seed, out, steps)
    path, wanted = record_path(exp, seed, root), request(cfg)
    if path.is_file() and same_settings(json.loads(path.read_text()).get("request"), wanted):
        return f"{path.name}: done already"
    data = EXPERIMENTS[exp]["data"]
    clf = None if exp in PAIRED else ensure_classifier(data, root)
    resumed = (out / "checkpoints" / "last.pt").is_file()
    cfg.loop.resume, cfg.loop.overwrite = resumed, not resumed  # a run stopped before its first checkpoint restarts
    wall, cpu, load = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    task, result = run(cls, cfg, **train_data(exp))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    record = {"experiment": exp, "task": EXPERIMENTS[exp]["task"], "data": data, "seed": seed,
              "steps": result.step, "resumed_from": result.start if resumed else 0, "train_wall_s": round(wall, 1),
              "train_cpu_s": round(cpu, 1), "load_average_at_start": load, "last_losses": result.last_losses,
              "request": wanted, "run": str(out.relative_to(ROOT.parent))}
    record.update(evaluate(exp, out, clf))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    shown = ", ".join(f"{k} {record[k]:.3f}" for k in METRIC_KEYS if k in record and not k.startswith("train"))
    return f"{path.name}: {shown} ({wall:.0f} s wall, {cpu:.0f} s CPU)"


# ------------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------------

METRIC_KEYS = ("label_accuracy", "domain_accuracy", "pair_agreement", "fid", "kid", "psnr_encoded", "vgg_encoded",
               "psnr_random", "vgg_random", "diversity", "train_cpu_s", "train_wall_s")


def mean_std(values: list[float]) -> dict:
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values}


def report(root: Path = RESULTS, images: Path = IMAGES, runs: Path = RUNS) -> dict:
    summary: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared), torch {torch.__version__}",
                     "sources_per_domain": SOURCES, "experiments": {}, "baselines": {}}
    for exp, spec in EXPERIMENTS.items():
        records = current(exp, [json.loads(p.read_text()) for p in sorted(root.glob(f"{exp}-s*.json"))], runs)
        if not records:
            continue
        entry = {"task": spec["task"], "data": spec["data"], "settings": spec["settings"],
                 "seeds": [r["seed"] for r in records], "steps": records[0]["steps"]}
        for key in METRIC_KEYS:
            if key in records[0]:
                entry[key] = mean_std([r[key] for r in records])
        if "diversity_metric" in records[0]:
            entry["diversity_metric"] = records[0]["diversity_metric"]
        if "pairs" in records[0]:
            entry["pairs_fid"] = {k: mean_std([r["pairs"][k]["fid"] for r in records]) for k in records[0]["pairs"]}
        summary["experiments"][exp] = entry
        if spec["data"] not in summary["baselines"]:
            summary["baselines"][spec["data"]] = reference_rows(exp, root)
        first, picture = runs / f"{exp}-s{records[0]['seed']}", images / f"multidomain_{exp}.png"
        ckpt = first / "checkpoints" / "last.pt"
        if ckpt.is_file() and (not picture.is_file() or picture.stat().st_mtime < ckpt.stat().st_mtime):
            figure(exp, first, picture)
    (root.parent / "multidomain.json").write_text(json.dumps(summary, indent=2) + "\n")
    (root.parent / "multidomain_tables.md").write_text(tables(summary))
    return summary


def same_settings(old: dict | None, new: dict) -> bool:
    """Whether a record's request (None: a record without one) agrees with ``new`` on every setting both have (a
    field added to a config after the record was made is not compared)."""
    return old is not None and all(
        same_settings(old[k], new[k]) if isinstance(old[k], dict) and isinstance(new[k], dict) else old[k] == new[k]
        for k in old.keys() & new.keys())


def current(exp: str, records: list[dict], runs: Path = RUNS) -> list[dict]:
    """The records of ``exp`` made with its present settings; older ones (e.g. other budgets) are left out."""
    kept = [r for r in records if same_settings(r.get("request"), request(
        config(exp, r["seed"], runs / f"{exp}-s{r['seed']}")[1]))]
    if len(kept) < len(records):
        print(f"{exp}: {len(records) - len(kept)} record(s) from other settings left out", flush=True)
    return kept


def reference_rows(exp: str, root: Path) -> dict:
    """The reference rows of ``exp``'s data, computed once into ``root/baselines-<data>.json`` (they depend on the
    data, the classifier and this script only: delete the file after changing either)."""
    data = EXPERIMENTS[exp]["data"]
    path = root / f"baselines-{data}.json"
    if path.is_file():
        return json.loads(path.read_text())
    clf = None if exp in PAIRED else classifier_dir(data, root)
    rows = {**({"classifier": json.loads((clf / "classifier.json").read_text())["heldout_accuracy"]} if clf else {}),
            **{name: {k: v for k, v in row.items() if k != "pairs"} for name, row in baselines(data, clf).items()}}
    path.write_text(json.dumps(rows, indent=2) + "\n")
    return rows


@torch.no_grad()
def figure(exp: str, run_dir: Path, path: Path, per_domain: int = 2) -> Path:
    """StarGAN: rows of input | its translation to every domain; MUNIT, StarGAN v2, FUNIT, BicycleGAN: input |
    8 outputs (StarGAN v2 and FUNIT into the next domain, FUNIT under a row of its one-shot references); UNIT,
    U-GAT-IT: a row of inputs over a row of their translations per direction; CoGAN: 12 pairs (A over B)."""
    from pixforge.data.domains import domain_data
    from pixforge.io import image_grid, save_image
    from pixforge.multimodal import load_model

    n = 8
    if exp in PAIR_GENERATORS:
        grid = torch.stack(cogan_pairs(run_dir, 12))  # (2, 12, C, 28, 28)
    elif exp in PAIRED:
        a, b = test_pairs()
        model = load_model(run_dir, "cpu")
        x = (a[:4] + 1) / 2
        grid = torch.cat([x[:, None], ((b[:4] + 1) / 2)[:, None], model(x, seed=EVAL_SEED, n=n)], 1)
    else:
        data = EXPERIMENTS[exp]["data"]
        d = domain_data(data)
        model = load_model(run_dir, "cpu")
        sources = eval_split(data)[0]
        refs = references(data) if exp == "funit" else {}
        rows = []
        for domain in range(d.num_domains):
            x = (d.images[sources[d.domains[sources] == domain][:per_domain * 2 if exp == "munit" else n]] + 1) / 2
            t = (domain + 1) % d.num_domains
            if exp == "stargan":
                x = x[:per_domain]
                outs = torch.stack([model(x, target=t)[:, 0] for t in range(d.num_domains)], 1)
            elif exp in ("stargan2", "funit"):
                x = x[:per_domain]
                outs = torch.stack([styled(exp, model, x, t, k, refs) for k in range(n)], 1)
                if exp == "funit":
                    rows.append(torch.cat([torch.ones_like(x[:1, None]), refs[t][None, :n]], 1))
            elif model.multimodal:
                outs = model(x, "AtoB" if domain == 0 else "BtoA", seed=EVAL_SEED, n=n)
            else:  # inputs over translations
                rows += [x[None], model(x, "AtoB" if domain == 0 else "BtoA")[:, 0][None]]
                continue
            rows.append(torch.cat([x[:, None], outs], 1))
        grid = torch.cat(rows)
    big = torch.nn.functional.interpolate(grid.flatten(0, 1), scale_factor=2 if grid.shape[-1] < 64 else 1,
                                          mode="nearest")
    return save_image(image_grid(big, nrow=grid.shape[1]), path)


def _ms(entry: dict, key: str, fmt: str = ".3f", scale: float = 1.0) -> str:
    if key not in entry:
        return "–"
    m, s = entry[key]["mean"] * scale, entry[key]["std"] * scale
    return f"{m:{fmt}} ± {s:{fmt}}"


def _row(row: dict, key: str, fmt: str = ".3f", scale: float = 1.0) -> str:
    return f"{row[key] * scale:{fmt}}" if key in row else "–"


def tables(summary: dict) -> str:
    exps = summary["experiments"]
    translating = {k: e for k, e in exps.items() if k not in PAIRED + PAIR_GENERATORS}
    lines = ["| experiment | seeds | steps | label preservation | target-domain acc. | FID (classifier) | "
             "KID | diversity | CPU s / run | wall s / run |", "|---|---|---|---|---|---|---|---|---|---|"]
    for exp, e in translating.items():
        lines.append(f"| {exp} on {e['data']} | {len(e['seeds'])} | {e['steps']} | {_ms(e, 'label_accuracy')} | "
                     f"{_ms(e, 'domain_accuracy')} | {_ms(e, 'fid', '.2f')} | {_ms(e, 'kid', '.2f')} | "
                     f"{_ms(e, 'diversity')} | {_ms(e, 'train_cpu_s', '.0f')} | {_ms(e, 'train_wall_s', '.0f')} |")
    for exp, e in exps.items():
        if exp in PAIR_GENERATORS:
            lines += ["", "| experiment | seeds | steps | pair agreement (same digit) | own-domain acc. | "
                      "FID per domain (classifier, 28 px) | KID | CPU s / run | wall s / run |",
                      "|---|---|---|---|---|---|---|---|---|",
                      f"| {exp} on {e['data']} | {len(e['seeds'])} | {e['steps']} | {_ms(e, 'pair_agreement')} | "
                      f"{_ms(e, 'domain_accuracy')} | {_ms(e, 'fid', '.2f')} | {_ms(e, 'kid', '.2f')} | "
                      f"{_ms(e, 'train_cpu_s', '.0f')} | {_ms(e, 'train_wall_s', '.0f')} |"]
        if exp in PAIRED:
            lines += ["", "| experiment | seeds | steps | PSNR G(A, E(B)) dB | VGG dist. G(A, E(B)) | PSNR G(A, z) dB | "
                      "VGG dist. G(A, z) | diversity | CPU s / run | wall s / run |",
                      "|---|---|---|---|---|---|---|---|---|---|",
                      f"| {exp} on {e['data']} | {len(e['seeds'])} | {e['steps']} | {_ms(e, 'psnr_encoded', '.2f')} | "
                      f"{_ms(e, 'vgg_encoded')} | {_ms(e, 'psnr_random', '.2f')} | {_ms(e, 'vgg_random')} | "
                      f"{_ms(e, 'diversity')} | {_ms(e, 'train_cpu_s', '.0f')} | {_ms(e, 'train_wall_s', '.0f')} |"]
    lines += ["", "| reference row | data | label preservation | target-domain acc. | pair agreement | "
                  "FID (classifier) | KID | PSNR dB | VGG dist. | diversity |", "|---|---|---|---|---|---|---|---|---|---|"]
    for data, rows in summary["baselines"].items():
        for name, row in rows.items():
            if name != "classifier":
                lines.append(f"| {name} | {data} | {_row(row, 'label_accuracy')} | {_row(row, 'domain_accuracy')} | "
                             f"{_row(row, 'pair_agreement')} | {_row(row, 'fid', '.2f')} | {_row(row, 'kid', '.2f')} | "
                             f"{_row(row, 'psnr_random', '.2f')} | {_row(row, 'vgg_random')} | "
                             f"{_row(row, 'diversity')} |")
    lines += ["", "| experiment | " + " | ".join(["pair", "FID (mean ± std over seeds)"]) + " |", "|---|---|---|"]
    for exp, e in exps.items():
        lines += [f"| {exp} | {pair} | {v['mean']:.2f} ± {v['std']:.2f} |"
                  for pair, v in e.get("pairs_fid", {}).items() if pair != "mean"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS), choices=list(EXPERIMENTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--report", action="store_true", help="only aggregate the finished runs and draw figures")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 steps, seed 0, into benchmarks/out/")
    args = parser.parse_args()
    torch.set_num_threads(1)
    root, runs, images, steps = RESULTS, RUNS, IMAGES, None
    if args.quick:
        root, runs, images, steps = ROOT / "out" / "multidomain-quick", ROOT / "out" / "multidomain-quick" / "runs", \
            ROOT / "out" / "multidomain-quick", 20
        args.seeds = args.seeds[:1]
    if not args.report:
        for exp in args.experiments:  # classifiers first, once, outside the workers
            if exp not in PAIRED:
                ensure_classifier(EXPERIMENTS[exp]["data"], root, steps=50 if args.quick else 1000)
        jobs = [(exp, seed, root, runs, steps) for seed in args.seeds for exp in args.experiments]
        if args.workers > 1:
            with ProcessPoolExecutor(args.workers) as pool:
                for line in pool.map(run_one, jobs):
                    print(line, flush=True)
        else:
            for job in jobs:
                print(run_one(job), flush=True)
    summary = report(root, images, runs)
    print(tables(summary))


if __name__ == "__main__":
    main()
