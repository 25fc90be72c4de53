"""Tiny stand-in datasets for the GAN tests (the real ones come from pixforge.data.builtin)."""
from __future__ import annotations

import numpy as np
import torch


def fake_builtin(name: str, size: int = 0, n: int = 512):
    """ring8/grid25: points from the metric's mixtures; anything else: 8x8 (or size) labelled blobs."""
    from pixforge.metrics.modes import MIXTURES

    g = np.random.default_rng(0)
    if name in MIXTURES:
        mix = MIXTURES[name]
        k = g.integers(len(mix.centres), size=n)
        x = mix.centres[k] + mix.std * g.standard_normal((n, 2))
        return torch.tensor(x, dtype=torch.float32), None
    s = size or 8
    labels = torch.tensor(g.integers(3, size=n))
    img = torch.full((n, 1, s, s), -1.0)
    for c in range(3):  # class c: a bright square in corner c
        sel = labels == c
        a = c * s // 3
        img[sel, :, a:a + s // 3, a:a + s // 3] = 1.0
    return img, labels


def install(monkeypatch) -> None:
    import pixforge.gan.data as data

    monkeypatch.setattr(data, "load_builtin", fake_builtin)


def one_thread():
    """Context for tests: one intra-op thread (the shared 2-core machine thrashes with more)."""
    import contextlib

    @contextlib.contextmanager
    def ctx():
        old = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(old)

    return ctx()
