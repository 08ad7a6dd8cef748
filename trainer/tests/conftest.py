"""Shared fixtures: tiny configs that train in seconds on a CPU, and the repo's paths."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "test" / "vectors"
SHARED_DATA = REPO.parent / "shared" / "data"

# Two threads at most: these machines have two cores, and determinism tests compare runs.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def benchmark(name: str) -> Path:
    """A real benchmark file from ../shared/data/benchmarks; skip when that folder is absent."""
    path = SHARED_DATA / "benchmarks" / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"real benchmark data not found at {path} (it lives in ../shared/data, "
                    "outside the repository)")
    return path


def tiny_config(**overrides) -> dict:
    """A config for a run that takes a few seconds: 2 queries x 4 rollouts, L_max 24."""
    cfg = {
        "method": "hbpo",
        "tiers": [8, 16],
        "rollouts_per_query": 4,
        "max_response_tokens": 24,
        "run": {"seed": 7, "device": "cpu", "threads": 1},
        "model": {"path": "tiny:llama",
                  "tiny": {"hidden_size": 32, "layers": 1, "heads": 2, "kv_heads": 1,
                           "intermediate_size": 64, "vocab_size": 320}},
        "data": {"train": "testbed:train"},
        "generation": {"batch_size": 8},
        "optim": {"lr": 1.0e-3},
        "ppo": {"micro_batch_size": 3},
        "train": {"queries_per_step": 2, "steps": 2, "checkpoint_every": 1, "keep_checkpoints": 2},
    }
    for dotted, value in overrides.items():
        node = cfg
        *parents, last = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return cfg


@pytest.fixture
def write_config(tmp_path):
    def write(cfg: dict, name: str = "config.yaml") -> Path:
        cfg = dict(cfg)
        cfg.setdefault("run", {})
        cfg["run"] = {**cfg["run"], "dir": str(tmp_path / "runs")}
        path = tmp_path / name
        path.write_text(yaml.safe_dump(cfg))
        return path
    return write


def hbpo_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "hbpo", *args]
