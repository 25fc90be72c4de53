"""Video stylisation: any method of :mod:`pixforge.style.methods`, built once and applied frame by frame.

Input and output are video files (read and written with PyAV, the optional ``video`` extra) or folders of
frames (PNG out). With ``temporal=True`` each output frame is blended with the previous output warped along
the optical flow (Ruder et al. 2016, in its cheap feed-forward form): where the flow is reliable by a
forward-backward consistency check, ``out = (1 - b) * stylised + b * warped_previous``; in occluded or
badly matched regions the frame's own stylisation is kept. This removes most of the flicker of per-frame
feed-forward stylisation. Flow comes from OpenCV's Farneback method when ``cv2`` is installed, else from a
small coarse-to-fine block matcher in torch.
"""
from __future__ import annotations

import itertools
import os
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import BadInputError, PixforgeError
from ..io import list_images, read_image, resize, resize_long_side, save_image

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".gif"}


def _av():
    try:
        import av
    except ImportError:
        raise PixforgeError("reading/writing video files needs PyAV: pip install 'pixforge[video]' "
                            "(or give a folder of frames)") from None
    return av


# --- frames in and out ------------------------------------------------------------------------------
def read_frames(source: str | Path) -> tuple[Iterator[torch.Tensor], float]:
    """Frames (3, H, W) in [0, 1] of a video file or a folder of images, and the frame rate."""
    source = Path(source)
    if source.is_dir():
        paths = list_images(source)
        if not paths:
            raise BadInputError(f"{source}: no frames (images) found")
        return (read_image(p) for p in paths), 25.0
    if not source.is_file():
        raise BadInputError(f"{source}: no such video file or frame folder")
    av = _av()
    try:
        container = av.open(str(source))
        stream = container.streams.video[0]
    except (av.error.FFmpegError, IndexError) as exc:
        raise BadInputError(f"{source}: not a readable video ({exc})") from None
    fps = float(stream.average_rate or 25)

    def frames() -> Iterator[torch.Tensor]:
        with container:
            try:
                for frame in container.decode(stream):
                    yield torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1).float() / 255.0
            except av.error.FFmpegError as exc:
                raise BadInputError(f"{source}: cannot decode the video past this point ({exc})") from None

    return frames(), fps


def is_video_file(path: str | Path) -> bool:
    """A video file to read frame by frame (a GIF is read as an image by the image commands)."""
    path = Path(path)
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES - {".gif"}


def map_frames(source: str | Path, target: str | Path, fn) -> int:
    """Write ``fn(frame)`` of every frame of the video SOURCE to TARGET (a video file, or a folder of PNGs) at
    SOURCE's frame rate; the number of frames. The per-frame commands (upscale, translate) share it."""
    frames, fps = read_frames(source)
    with FrameWriter(target, fps) as writer:
        for frame in frames:
            writer.write(fn(frame))
    return writer.count


def output_kind(target: str | Path) -> str:
    """"video" (a known video suffix) or "frames" (a folder: an existing one, or a name without a suffix)."""
    target = Path(target)
    if target.suffix.lower() in VIDEO_SUFFIXES:
        return "video"
    if target.is_dir() or not target.suffix:
        return "frames"
    raise BadInputError(f"{target}: unknown video suffix {target.suffix!r}; use one of "
                        f"{', '.join(sorted(VIDEO_SUFFIXES))}, or a folder name (no suffix) for PNG frames")


class FrameWriter:
    """Write frames to a video file (H.264 or MPEG-4, yuv420p) or as numbered PNGs into a folder.

    Frames go to a hidden partial file (or folder) beside the target, moved into place by ``close()`` only
    when every frame was written (leaving the ``with`` block without an exception): a failed run leaves no
    playable partial video and no frames of its own, and keeps whatever was at the target before.
    """

    def __init__(self, target: str | Path, fps: float = 25.0):
        self.target, self.fps, self.count = Path(target), fps, 0
        self.kind = output_kind(self.target)
        self.partial = self.target.parent / f".{self.target.name}.partial{self.target.suffix}"
        self.container = self.stream = None

    def write(self, frame: torch.Tensor) -> None:
        if self.kind == "frames":
            save_image(frame, self.partial / f"frame_{self.count:06d}.png")
        else:
            self._encode(frame)
        self.count += 1

    def _encode(self, frame: torch.Tensor) -> None:
        av = _av()
        h, w = (s - s % 2 for s in frame.shape[-2:])  # yuv420p needs even sizes
        if self.container is None:
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            self.container = av.open(str(self.partial), "w")
            codec = "libx264" if "libx264" in av.codecs_available and self.target.suffix != ".avi" else "mpeg4"
            self.stream = self.container.add_stream(codec, rate=Fraction(self.fps).limit_denominator(1001))
            self.stream.width, self.stream.height, self.stream.pix_fmt = w, h, "yuv420p"
        array = (frame[:, :h, :w].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        for packet in self.stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")):
            self.container.mux(packet)

    def close(self, success: bool = True) -> None:
        """Finish the file and move it (or the frames) to the target; with ``success=False`` discard them."""
        if self.container is not None:
            if success:
                for packet in self.stream.encode(None):
                    self.container.mux(packet)
            self.container.close()
            self.container = None
        if not self.partial.exists():
            return
        if not success:
            shutil.rmtree(self.partial) if self.partial.is_dir() else self.partial.unlink()
        elif self.kind == "video":
            os.replace(self.partial, self.target)
        elif self.target.is_dir():
            for frame in sorted(self.partial.iterdir()):
                os.replace(frame, self.target / frame.name)
            self.partial.rmdir()
        else:
            os.replace(self.partial, self.target)

    def __enter__(self) -> "FrameWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(success=exc_type is None)


# --- optical flow --------------------------------------------------------------------------------------
def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` (N, C, H, W) at ``p + flow(p)``; flow (N, 2, H, W) in pixels (x, y), border clamped."""
    n, _, h, w = image.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=flow.dtype), torch.arange(w, dtype=flow.dtype), indexing="ij")
    gx = (xs + flow[:, 0]) * (2 / max(w - 1, 1)) - 1
    gy = (ys + flow[:, 1]) * (2 / max(h - 1, 1)) - 1
    return F.grid_sample(image, torch.stack([gx, gy], -1), mode="bilinear", padding_mode="border", align_corners=True)


def block_matching_flow(a: torch.Tensor, b: torch.Tensor, radius: int = 2, window: int = 7,
                        min_size: int = 24) -> torch.Tensor:
    """Coarse-to-fine block matching: flow (N, 2, H, W) with ``a(p) ~ b(p + flow(p))``.

    At each pyramid level the flow from the coarser level is doubled, ``b`` is warped by it once, and each
    pixel takes the integer offset in [-radius, radius]^2 (a shift of the warped image) that minimises the
    window-averaged squared difference (ties favour small offsets).
    """
    if min(a.shape[-2:]) >= 2 * min_size:
        coarse = block_matching_flow(F.avg_pool2d(a, 2), F.avg_pool2d(b, 2), radius, window, min_size)
        flow = 2 * F.interpolate(coarse, size=a.shape[-2:], mode="bilinear", align_corners=False)
        base = warp(b, flow)
    else:
        flow, base = a.new_zeros(a.shape[0], 2, *a.shape[-2:]), b
    h, w = a.shape[-2:]
    gray = a.mean(1, keepdim=True)  # matching on brightness: a third of the work, hardly less accurate
    padded = F.pad(base.mean(1, keepdim=True), (radius,) * 4, mode="replicate")
    offsets = [(dx, dy) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]
    diffs = torch.cat([(gray - padded[..., radius + dy: radius + dy + h, radius + dx: radius + dx + w]).square()
                       for dx, dy in offsets], 1)
    penalty = torch.tensor([abs(dx) + abs(dy) for dx, dy in offsets], dtype=a.dtype).view(1, -1, 1, 1)
    choice = (box_filter(diffs, window) + 1e-4 * penalty).argmin(1)  # first minimum: offsets are ordered
    table = torch.tensor(offsets, dtype=a.dtype)  # (K, 2) as (dx, dy)
    return flow + table[choice].permute(0, 3, 1, 2)


def box_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    """Mean over ``size`` x ``size`` windows (edge-replicated), via cumulative sums: O(1) per pixel."""
    r = size // 2
    c = F.pad(x, (r + 1, r, r + 1, r), mode="replicate").cumsum(-1)
    c = (c[..., size:] - c[..., :-size]).cumsum(-2)
    return (c[..., size:, :] - c[..., :-size, :]) / (size * size)


def optical_flow(a: torch.Tensor, b: torch.Tensor, max_side: int = 256) -> torch.Tensor:
    """Dense flow (N, 2, H, W) from frame ``a`` to frame ``b`` (both (N, 3, H, W) in [0, 1]).

    Computed at most ``max_side`` pixels on the long side and upsampled: blending needs the motion,
    not sub-pixel detail, and this keeps the cost per frame small next to the stylisation.
    """
    h, w = a.shape[-2:]
    scale = max(h, w) / max_side
    if scale > 1:
        size = (max(1, round(h / scale)), max(1, round(w / scale)))
        small = optical_flow(*(F.interpolate(t, size=size, mode="area") for t in (a, b)), max_side=max_side)
        flow = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
        return flow * torch.tensor([w / size[1], h / size[0]], dtype=flow.dtype).view(1, 2, 1, 1)
    try:
        import cv2
    except ImportError:
        return block_matching_flow(a, b)
    flows = []
    for x, y in zip(a, b):
        gx, gy = ((t.mean(0) * 255).byte().numpy() for t in (x, y))
        flows.append(torch.from_numpy(cv2.calcOpticalFlowFarneback(gx, gy, None, 0.5, 4, 15, 3, 5, 1.2, 0)))
    return torch.stack(flows).permute(0, 3, 1, 2).to(a.dtype)


def reliable(flow_ab: torch.Tensor, flow_ba: torch.Tensor) -> torch.Tensor:
    """Mask (N, 1, H, W): 1 where going a->b and back lands where it started (Sundaram et al. 2010)."""
    back = warp(flow_ba, flow_ab)
    mismatch = (flow_ab + back).pow(2).sum(1, keepdim=True)
    tolerance = 0.01 * (flow_ab.pow(2).sum(1, keepdim=True) + back.pow(2).sum(1, keepdim=True)) + 0.5
    return (mismatch <= tolerance).to(flow_ab.dtype)


# --- stylisation ---------------------------------------------------------------------------------------
@dataclass
class TemporalBlender:
    """Blend each stylised frame with the flow-warped previous output where the flow is reliable."""

    weight: float = 0.6  # share of the warped previous output in reliable regions
    prev_frame: torch.Tensor | None = None
    prev_out: torch.Tensor | None = None

    def __call__(self, frame: torch.Tensor, stylised: torch.Tensor) -> torch.Tensor:
        if self.prev_frame is not None and self.prev_frame.shape == frame.shape:
            to_prev = optical_flow(frame, self.prev_frame)
            mask = reliable(to_prev, optical_flow(self.prev_frame, frame))
            warped = warp(self.prev_out, to_prev)
            stylised = stylised + self.weight * mask * (warped - stylised)
        self.prev_frame, self.prev_out = frame, stylised
        return stylised


def frame_flows(frames: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """For each consecutive pair: (flow from frame t to frame t-1, its reliability mask)."""
    pairs = []
    for f0, f1 in zip(frames, frames[1:]):
        f0, f1 = f0.unsqueeze(0), f1.unsqueeze(0)
        to_prev = optical_flow(f1, f0)
        pairs.append((to_prev, reliable(to_prev, optical_flow(f0, f1))))
    return pairs


def temporal_error(frames: list[torch.Tensor], outputs: list[torch.Tensor],
                   flows: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> float:
    """Mean |out_t - warp(out_{t-1})| over reliable pixels, the flow taken from the input frames."""
    errors = []
    for (to_prev, mask), o0, o1 in zip(flows or frame_flows(frames), outputs, outputs[1:]):
        diff = (o1.unsqueeze(0) - warp(o0.unsqueeze(0), to_prev)).abs() * mask
        errors.append(float(diff.sum() / (3 * mask.sum()).clamp_min(1)))
    return sum(errors) / max(1, len(errors))


def stylize_video(source: str | Path, target: str | Path, styles: list[torch.Tensor], opts,
                  temporal: bool = False, temporal_weight: float = 0.6, max_frames: int | None = None,
                  given=None) -> int:
    """Stylise every frame of ``source`` into ``target`` (a video file, or a folder for PNG frames); returns
    the number of frames. Options are checked (``given``: those the user set, see :func:`methods.validate`)
    and the target tested for writing before the first frame; the target appears only when every frame is done.
    """
    from tqdm.auto import tqdm

    from ..errors import ConfigError
    from ..utils import check_writable
    from . import methods

    output_kind(target)
    check_writable(Path(target) / "frame_000000.png" if Path(target).is_dir() else target)
    if not 0.0 <= temporal_weight <= 1.0:
        raise ConfigError(f"--temporal-weight must be in [0, 1], not {temporal_weight}")
    if max_frames is not None and max_frames < 1:
        raise ConfigError(f"--max-frames must be at least 1, not {max_frames}")
    frames, fps = read_frames(source)
    first = next(frames, None)
    if first is None:
        raise BadInputError(f"{source}: no frames decoded")
    methods.check_image(first, f"{source} (frame 1)")
    methods.validate(opts, len(styles), first.shape[-2:], given)
    stylizer = methods.build(styles, opts)
    blender = TemporalBlender(temporal_weight) if temporal else None
    with FrameWriter(target, fps) as writer:
        for i, frame in enumerate(tqdm(itertools.chain([first], frames), unit="frame", disable=not opts.progress)):
            if max_frames is not None and i >= max_frames:
                break
            if opts.size:
                frame = resize_long_side(frame, opts.size)
            out = stylizer(frame.unsqueeze(0)).float().clamp(0, 1)
            if out.shape[-2:] != frame.shape[-2:]:
                out = resize(out, frame.shape[-2:])
            if blender is not None:
                out = blender(frame.unsqueeze(0), out)
            writer.write(out[0])
    return writer.count
