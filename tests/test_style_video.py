"""Video stylisation: frame I/O round trip, optical flow, temporal consistency, CLI."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from pixforge.cli import main
from pixforge.io import list_images, save_image
from pixforge.style.video import (FrameWriter, TemporalBlender, block_matching_flow, frame_flows, read_frames,
                                  reliable, temporal_error, warp)

pytestmark = pytest.mark.usefixtures("one_thread")


def moving_square(n: int = 5, size: int = 48, step: int = 2) -> list[torch.Tensor]:
    """A textured square translating ``step`` px right per frame over a smooth background."""
    g = torch.Generator().manual_seed(0)
    texture = torch.rand(3, 16, 16, generator=g)
    background = torch.linspace(0.2, 0.5, size).expand(3, size, size).clone()
    frames = []
    for t in range(n):
        frame = background.clone()
        x = 4 + step * t
        frame[:, 8:24, x:x + 16] = texture
        frames.append(frame)
    return frames


def test_block_matching_finds_translation():
    frames = moving_square(2)
    flow = block_matching_flow(frames[1][None], frames[0][None])  # frame1(p) ~ frame0(p + flow)
    inside = flow[0, :, 12:20, 10:18]
    assert torch.allclose(inside[0], torch.full_like(inside[0], -2.0))
    assert torch.allclose(inside[1], torch.zeros_like(inside[1]))
    back = block_matching_flow(frames[0][None], frames[1][None])
    assert reliable(flow, back)[0, 0, 12:20, 10:18].all()


def test_temporal_blending_lowers_warped_difference():
    frames = moving_square(4, size=32)
    g = torch.Generator().manual_seed(1)
    # A flickering "stylisation": every frame gets its own noise, as per-frame networks do.
    stylised = [(f + 0.3 * torch.rand(f.shape, generator=g) - 0.15).clamp(0, 1) for f in frames]
    blender = TemporalBlender(weight=0.6)
    smoothed = [blender(f[None], s[None])[0] for f, s in zip(frames, stylised)]
    flows = frame_flows(frames)
    assert temporal_error(frames, smoothed, flows) < 0.7 * temporal_error(frames, stylised, flows)


def test_video_file_round_trip(tmp_path):
    frames = moving_square(4, size=32)
    path = tmp_path / "clip.mp4"
    with FrameWriter(path, fps=10) as writer:
        for f in frames:
            writer.write(f)
    back, fps = read_frames(path)
    back = list(back)
    assert len(back) == 4 and back[0].shape == (3, 32, 32)
    assert fps == pytest.approx(10)


def test_cli_video_folder_with_temporal(tmp_path):
    from pixforge.models.transformer_net import TransformerNet
    from pixforge.weights import save_state_dict

    torch.manual_seed(0)
    src = tmp_path / "frames"
    src.mkdir()
    for i, f in enumerate(moving_square(3, size=32)):
        save_image(f, src / f"f{i:03d}.png")
    model = tmp_path / "m.safetensors"
    save_state_dict(TransformerNet().state_dict(), model)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["video", str(src), str(out), "--method", "fast", "--model", str(model),
                                       "--size", "32", "--temporal", "--quiet"])
    assert result.exit_code == 0, result.output
    assert len(list_images(out)) == 3


def test_warp_zero_flow_is_identity():
    x = torch.rand(1, 3, 9, 11)
    assert torch.allclose(warp(x, torch.zeros(1, 2, 9, 11)), x, atol=1e-6)
