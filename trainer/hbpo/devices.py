"""The GPUs this machine shows the trainer, counted without a second of imports when there are none."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def visible_cuda_devices() -> int:
    """CUDA devices PyTorch would see here (CUDA_VISIBLE_DEVICES applies): 0 without an NVIDIA driver.
    On Linux a machine with no /proc/driver/nvidia has none, and torch is not imported to say so."""
    if sys.platform == "darwin" or os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return 0
    if sys.platform.startswith("linux") and not Path("/proc/driver/nvidia").exists():
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0
