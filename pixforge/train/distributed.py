"""Data-parallel training through torch.distributed (launched with ``torchrun``), a no-op otherwise.

    torchrun --nproc_per_node 2 -m pixforge train gan --data mnist5k ...

Each process runs the same loop on its slice of every global batch (see ``StepBatches``); gradients are
averaged by DistributedDataParallel; rank 0 alone writes checkpoints, logs and samples. Backend: NCCL on
CUDA, gloo on CPU.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return rank() == 0


def init(device: torch.device) -> torch.device:
    """Join the process group when started by torchrun (WORLD_SIZE > 1); return this process's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or is_distributed():
        return device
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def wrap(module: nn.Module, device: torch.device, find_unused: bool = False) -> nn.Module:
    """DistributedDataParallel around ``module`` when running distributed, else the module itself.
    ``find_unused``: parameters may go unused in a step (a progressive GAN's later stages), at some cost."""
    if not is_distributed():
        return module
    return nn.parallel.DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None,
                                               find_unused_parameters=find_unused)


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Average a tensor over processes (for logging losses that every rank computed on its own slice)."""
    if not is_distributed():
        return value
    value = value.detach().clone()
    dist.all_reduce(value)
    return value / world_size()


def cleanup() -> None:
    if is_distributed():
        dist.destroy_process_group()
