"""Checkpoints that a crash cannot corrupt, and that resume a run exactly.

    runs/<id>/checkpoints/step-000010/
        model/               weights (or LoRA adapter) and tokenizer, save_pretrained format
        trainer_state.pt     step, optimizer, scheduler, RNG states, data position
        config.yaml          the run's resolved config (a checkpoint is evaluable on its own)
        sharded/             train.parallel fsdp only: weights and optimizer state as every rank held
                             them (torch.distributed.checkpoint); trainer_state.pt then has no optimizer
    runs/<id>/checkpoints/latest   name of the newest complete checkpoint

A checkpoint is written under a temporary name and renamed into place, then `latest` is replaced
atomically: a crash at any moment leaves the previous checkpoint intact and `latest` pointing at
a complete one. Under fsdp every rank writes its shard into the same temporary folder (rank 0's,
`temporary_folder`) before rank 0 completes and renames it (hbpo/sharding.py).
"""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import torch
import yaml

from .diskfull import DiskFullError, folder_bytes, free_bytes, human, is_disk_full

STATE_FILE = "trainer_state.pt"


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_text_atomic(path: Path, text: str) -> None:
    """Write `path` through a temporary file and os.replace: readers see the old file or the new
    one, never a partial one; a failed write leaves the old file and no temporary behind (a full
    disk raises `DiskFullError` naming `path`)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, DiskFullError) and is_disk_full(exc):
            raise DiskFullError(f"no space left on device writing {path} ({human(free_bytes(path))} free)") from None
        raise


# Temporary names a save uses: `.step-N.tmp-PID` (being written), `.step-N.old-PID` (a step being
# re-saved), `.latest.tmp-PID`. A process killed mid-save leaves them behind.
_TEMP_NAME = re.compile(r"\.(step-\d+)\.(tmp|old)-(\d+)|\.latest\.tmp-(\d+)")


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError) as exc:  # PermissionError: alive, someone else's
        return isinstance(exc, PermissionError)
    return True


def clean_stale_temporaries(run_dir: Path) -> list[str]:
    """Remove what interrupted saves left in `checkpoints/`: every temporary whose process is gone
    (or is this process: at a run's start no save of ours is under way). A `.step-N.old-PID` whose
    `step-N` is missing (killed between the two renames of a re-save) is the complete checkpoint:
    it is renamed back, not removed. Returns the names handled."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    handled = []
    for entry in sorted(root.iterdir()):
        m = _TEMP_NAME.fullmatch(entry.name)
        if not m:
            continue
        pid = int(m.group(3) or m.group(4))
        if pid != os.getpid() and pid_alive(pid):
            continue
        if m.group(2) == "old" and not (root / m.group(1)).exists() and (entry / STATE_FILE).is_file():
            os.rename(entry, root / m.group(1))
            handled.append(f"{entry.name} (restored as {m.group(1)})")
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        handled.append(entry.name)
    return handled


def temporary_folder(run_dir: Path, step: int) -> Path:
    """Where checkpoint `step` is written before it is renamed into place (this process's)."""
    return Path(run_dir) / "checkpoints" / f".step-{step:06d}.tmp-{os.getpid()}"


def save_checkpoint(run_dir: Path, step: int, *, model, tokenizer, state: dict[str, Any],
                    config: dict, keep: int, weights: dict[str, torch.Tensor] | None = None,
                    started: bool = False) -> Path:
    """Write checkpoint `step` atomically; prune to the newest `keep`. Returns its folder.
    A save that fails leaves no temporary behind; one that fails for lack of space raises
    `DiskFullError` saying where, how much it needs and that the previous checkpoint is intact.
    `weights`: the state dict `model/` gets instead of the model's own (the whole weights an fsdp
    run gathers); `started`: the ranks have already written their shards into `temporary_folder`."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:06d}"
    final = root / name
    tmp = temporary_folder(run_dir, step)
    if not started:
        shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp / "model", **({} if weights is None else {"state_dict": weights}))
        tokenizer.save_pretrained(tmp / "model")
        torch.save({"step": step, **state}, tmp / STATE_FILE)
        write_text_atomic(tmp / "config.yaml", yaml.safe_dump(config, sort_keys=False))
    except BaseException as exc:
        free, written = free_bytes(root), folder_bytes(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, Exception) and is_disk_full(exc, root):
            raise DiskFullError(no_space_message(run_dir, final, written, free, model, state)) from exc
        raise
    if final.exists():  # re-saving a step (a resumed run stopping at once): swap, then drop
        old = root / f".{name}.old-{os.getpid()}"
        os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old)
    else:
        os.rename(tmp, final)
    try:
        write_text_atomic(root / "latest", name + "\n")
    except OSError as exc:  # `final` is complete; `latest` still names the previous one
        if is_disk_full(exc):
            raise DiskFullError(f"no space left on device writing {root / 'latest'}; checkpoint {name} is "
                                f"complete but `latest` still names the previous one") from exc
        raise
    for stale in complete_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        if stale != final:
            shutil.rmtree(stale, ignore_errors=True)
    return final


def no_space_message(run_dir: Path, final: Path, written: int, free: int | None, model, state) -> str:
    previous = latest_checkpoint(run_dir)
    if previous is not None:
        need, basis = folder_bytes(previous), f"the size of {previous.name}"
    else:  # no checkpoint yet: weights plus the tensors of the trainer state (optimizer moments)
        need = sum(p.numel() * p.element_size() for p in model.parameters()) + _tensor_bytes(state)
        need, basis = max(need, written), "the weights and optimizer state"
    kept = f"the previous checkpoint {previous.name} is intact" if previous else "there is no earlier checkpoint"
    return (f"no space left on device saving checkpoint {final.name} to {final.parent}: it needs about "
            f"{human(need)} ({basis}); {human(written)} were written before the disk filled, "
            f"{human(free)} free then. {kept[0].upper()}{kept[1:]}; free some space and resume with "
            f"`python -m hbpo resume {run_dir}`")


def _tensor_bytes(obj: Any) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def complete_checkpoints(run_dir: Path) -> list[Path]:
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.glob("step-*") if (p / STATE_FILE).is_file() and (p / "model").is_dir()]
    return sorted(found, key=lambda p: p.name)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint `latest` names, or the newest complete one if `latest` is missing/stale."""
    root = Path(run_dir) / "checkpoints"
    pointer = root / "latest"
    if pointer.is_file():
        candidate = root / pointer.read_text().strip()
        if (candidate / STATE_FILE).is_file():
            return candidate
    done = complete_checkpoints(run_dir)
    return done[-1] if done else None


def load_state(checkpoint: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    return torch.load(Path(checkpoint) / STATE_FILE, map_location=device, weights_only=False)
