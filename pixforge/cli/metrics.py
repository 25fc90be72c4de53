"""``pixforge eval fid|kid|is|pr|modes|stats``."""
from __future__ import annotations

import json
import math

import click

from .app import evaluate, output_option

def feature_options(func):
    """--features, --batch-size, --device, --json: shared by every metric on images."""
    for option in reversed([
        click.option("--features", default="inception", show_default=True,
                     help="'inception' (pytorch-fid weights) or 'classifier:PATH' (domain features)"),
        click.option("--batch-size", default=50, show_default=True, type=click.IntRange(1)),
        click.option("--device", default=None, help="cuda, cpu, ... (default: CUDA when present)"),
        click.option("--json", "as_json", is_flag=True, help="print one JSON object instead of a line"),
    ]):
        func = option(func)
    return func


def report(result: dict, line: str, as_json: bool) -> None:
    if as_json:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in result.items()}
        click.echo(json.dumps(clean))
    else:
        click.echo(line)


def _kw(batch_size, device) -> dict:
    return {"batch_size": batch_size, "device": device}


@evaluate.command()
@click.argument("a")
@click.argument("b")
@feature_options
@click.option("--method", type=click.Choice(["eig", "sqrtm"]), default="eig", show_default=True,
              help="matrix square root: eigen-decomposition or scipy.linalg.sqrtm (pytorch-fid's)")
def fid(a, b, features, batch_size, device, as_json, method):
    """Fréchet Inception Distance between A and B: .npz statistics (mu, sigma; as pytorch-fid writes), or
    image folders, or .npy sample arrays (N, C, H, W) in [-1, 1], or GAN run folders / checkpoints (5000 samples
    drawn from the generator, seed 0). Two .npz files need no network.

    \b
    Examples:
      pixforge eval fid real_images/ fake_images/
      pixforge eval fid real_stats.npz runs/dcgan --features classifier:runs/mnist-classifier
    """
    from ..metrics import compute_fid

    value = compute_fid(a, b, features, method, **_kw(batch_size, device))
    report({"metric": "fid", "value": value, "a": a, "b": b, "features": features}, f"FID {value:.4f}  ({a} vs {b})",
           as_json)


@evaluate.command()
@click.argument("a")
@click.argument("b")
@feature_options
@click.option("--subsets", default=100, show_default=True, type=click.IntRange(1))
@click.option("--subset-size", default=1000, show_default=True, type=click.IntRange(2))
@click.option("--seed", default=0, show_default=True)
def kid(a, b, features, batch_size, device, as_json, subsets, subset_size, seed):
    """Kernel Inception Distance (unbiased MMD^2, cubic kernel) between A and B (image folders or .npy).

    \b
    Example:
      pixforge eval kid real_images/ samples.npy --subsets 50 --subset-size 500
    """
    from ..metrics import compute_kid

    mean, std = compute_kid(a, b, features, subsets, subset_size, seed, **_kw(batch_size, device))
    report({"metric": "kid", "value": mean, "std": std, "a": a, "b": b, "features": features},
           f"KID {mean:.6f} ± {std:.6f}  ({a} vs {b}, {subsets} subsets of {subset_size})", as_json)


@evaluate.command(name="is")
@click.argument("a")
@feature_options
@click.option("--splits", default=10, show_default=True, type=click.IntRange(1))
def inception_score(a, features, batch_size, device, as_json, splits):
    """Inception Score of A (image folder or .npy); with classifier features, its domain analogue.

    \b
    Example:
      pixforge eval is samples.npy --json
    """
    from ..metrics import compute_is

    mean, std = compute_is(a, features, splits, **_kw(batch_size, device))
    report({"metric": "is", "value": mean, "std": std, "a": a, "features": features},
           f"IS {mean:.4f} ± {std:.4f}  ({a}, {splits} splits)", as_json)


@evaluate.command()
@click.argument("real")
@click.argument("fake")
@feature_options
@click.option("-k", "k", default=3, show_default=True, type=click.IntRange(1), help="k-th neighbour radius")
def pr(real, fake, features, batch_size, device, as_json, k):
    """Improved precision/recall (and density/coverage) of FAKE against REAL (image folders or .npy).

    \b
    Example:
      pixforge eval pr real_images/ fake_images/ -k 3
    """
    from ..metrics import compute_pr

    r = compute_pr(real, fake, features, k, **_kw(batch_size, device))
    report({"metric": "pr", **r, "real": real, "fake": fake, "features": features, "k": k},
           f"precision {r['precision']:.4f}  recall {r['recall']:.4f}  density {r['density']:.4f}  "
           f"coverage {r['coverage']:.4f}  (k={k})", as_json)


@evaluate.command()
@click.argument("samples")
@click.option("--data", required=True, help="the data the samples imitate: a 2D mixture (ring8, grid25; see "
                                           "`pixforge data list`) or stacked-mnist")
@click.option("--classifier", default=None, help="digit classifier (stacked-mnist): file or run folder")
@click.option("--device", default=None)
@click.option("--json", "as_json", is_flag=True)
def modes(samples, data, classifier, device, as_json):
    """Mode coverage of SAMPLES (.npy): 2D points (N, 2) for ring8/grid25, (N, 3, H, W) for stacked-mnist.

    \b
    Examples:
      pixforge sample runs/ring8 -n 2500 -o points.npy && pixforge eval modes points.npy --data ring8
      pixforge eval modes stacked.npy --data stacked-mnist --classifier runs/mnist-classifier
    """
    from ..metrics import compute_modes

    r = compute_modes(samples, data, classifier, device)
    hq = f"  high-quality {100 * r['high_quality']:.1f}%" if "high_quality" in r else ""
    report({"metric": "modes", **{k: v for k, v in r.items() if k != "counts"}},
           f"{data}: modes {r['modes']}/{r['total_modes']}{hq}  KL {r['kl']:.4f}  ({r['samples']} samples)", as_json)


@evaluate.command()
@click.argument("source")
@output_option("statistics file to write (.npz: mu, sigma)", required=True)
@feature_options
def stats(source, output, features, batch_size, device, as_json):
    """Write pytorch-fid compatible statistics (mu, sigma) of SOURCE (image folder or .npy).

    \b
    Example:
      pixforge eval stats real_images/ -o real_stats.npz
    """
    from ..metrics import compute_stats, save_stats
    from ..utils import check_writable

    check_writable(output)
    st = compute_stats(source, features, **_kw(batch_size, device))
    save_stats(st, output)
    report({"out": output, "count": st.count, "dims": len(st.mu), "features": features},
           f"wrote {output}: {st.count} images, {len(st.mu)}-d {features} features", as_json)

