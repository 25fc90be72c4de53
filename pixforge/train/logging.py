"""Run logging: scalars to a CSV and to TensorBoard event files (tensorboardX), and loss plots as PNG."""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Mapping

from ..utils import atomic_path


class RunLogger:
    """Log scalars per step to ``out/metrics.csv`` and ``out/tb/`` (open with ``tensorboard --logdir out/tb``).

    ``resume_step``: rows after this step (written by an interrupted run) are dropped, so a resumed run's
    CSV reads as if it had never stopped.
    """

    def __init__(self, out_dir: str | os.PathLike, resume_step: int | None = None, tensorboard: bool = True):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.out_dir / "metrics.csv"
        self.rows: list[dict[str, float]] = []
        if resume_step is not None and self.csv_path.is_file():
            with open(self.csv_path, newline="") as fh:
                self.rows = [
                    {k: float(v) for k, v in row.items() if v != ""}
                    for row in csv.DictReader(fh)
                    if float(row["step"]) <= resume_step
                ]
        self.columns: list[str] = ["step"] + sorted({k for r in self.rows for k in r} - {"step"})
        self._rewrite()
        self.writer = None
        if tensorboard:
            try:
                from tensorboardX import SummaryWriter

                self.writer = SummaryWriter(str(self.out_dir / "tb"), purge_step=resume_step)
            except ImportError:  # optional: CSV is always written
                self.writer = None

    def _rewrite(self) -> None:
        with atomic_path(self.csv_path) as tmp, open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=self.columns)
            w.writeheader()
            w.writerows(self.rows)

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        row = {"step": float(step), **{k: float(v) for k, v in scalars.items()}}
        self.rows.append(row)
        new = [k for k in row if k not in self.columns]
        if new:
            self.columns += new
            self._rewrite()
        else:
            with open(self.csv_path, "a", newline="") as fh:
                csv.DictWriter(fh, fieldnames=self.columns).writerow(row)
        if self.writer is not None:
            for k, v in scalars.items():
                self.writer.add_scalar(k, float(v), step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def plot_losses(csv_path: str | os.PathLike, png_path: str | os.PathLike, title: str = "") -> Path:
    """Plot every column of a metrics CSV against step into one PNG (one panel per column)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    columns = [c for c in (rows[0].keys() if rows else []) if c != "step"]
    fig, axes = plt.subplots(len(columns) or 1, 1, figsize=(7, 2.2 * max(1, len(columns))), squeeze=False)
    for ax, col in zip(axes[:, 0], columns):
        pts = [(float(r["step"]), float(r[col])) for r in rows if r.get(col) not in (None, "")]
        if pts:
            ax.plot(*zip(*pts), lw=1)
        ax.set_ylabel(col)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    png_path = Path(png_path)
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return png_path
