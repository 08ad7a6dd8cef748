"""How a run's processes hold the policy (`train.parallel`), behind the one interface the loop uses:

    par = parallelize(model, cfg, world, device, dtype)   # after load_policy, before the optimizer
    with par.gathered():                                  # every rank: rollouts, and evaluation
        generate with par.policy
    ppo_update(..., wrapped=par.module)                   # gradients reduced over the ranks
    par.save(...), par.load(...)                          # checkpoints

`ddp` (Replicated): every process holds the whole model; the update's forward runs through
DistributedDataParallel (one process: the plain model, nothing wrapped). Rank 0 saves the weights
and the optimizer state once.

`fsdp` (Sharded, FSDP2: torch.distributed.fsdp.fully_shard): every decoder layer is sharded, then
the rest of the model (embeddings, final norm, head) as the root, a LogprobModule, so each of N
processes keeps 1/N of the weights, gradients and AdamW moments. A layer's weights are all-gathered
for its forward and backward and freed after; gradients are reduce-scattered (averaged, as DDP's).
With model.dtype bfloat16/float16 the weights stay float32 (sharded) and FSDP's mixed precision
computes in the dtype and reduces gradients in float32. Generation gathers the whole weights once
(`gathered`): each rank's sequences need a different number of forwards, which no collective may
sit in. One process shards over a group of one. Checkpoints: each rank writes its shard of the
weights and optimizer state with torch.distributed.checkpoint (`sharded/`, what a resume loads),
and rank 0 also writes the whole weights as `model/` (save_pretrained, in model.dtype), so
evaluation and GGUF export read an fsdp checkpoint as any other; that needs the whole weights in
rank 0's CPU memory while it saves.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import torch

from .checkpoint import no_space_message, save_checkpoint, temporary_folder
from .config import Config, ConfigError
from .diskfull import DiskFullError, folder_bytes, free_bytes, is_disk_full
from .dist import World, barrier, broadcast
from .update import LogprobModule

SHARDS = "sharded"  # a checkpoint's torch.distributed.checkpoint folder (fsdp)


def _trained(**options):
    # What a checkpoint keeps of the weights: the trained ones (with LoRA, the adapters: the frozen
    # base is model.path's, which load_policy reads again).
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(ignore_frozen_params=True, **options)


def parallelize(model, cfg: Config, world: World, device: torch.device, dtype: torch.dtype):
    """`model` (loaded on `load_device(...)`) ready for the loop: Replicated or Sharded."""
    if cfg.train.parallel == "fsdp":
        return Sharded(model, world, device, dtype, cfg.generation.temperature)
    return Replicated(model, world, device, cfg.generation.temperature)


def load_device(cfg: Config, device: torch.device, dtype: torch.dtype) -> tuple[torch.device, torch.dtype]:
    """Where and in which dtype load_policy puts the weights: fsdp loads them on the CPU in float32
    (fully_shard moves each rank's shard to its device, layer by layer; the dtype is FSDP's compute dtype)."""
    return (torch.device("cpu"), torch.float32) if cfg.train.parallel == "fsdp" else (device, dtype)


class Replicated:
    """`ddp`: the whole model on every process."""

    def __init__(self, model, world: World, device: torch.device, temperature: float):
        self.model = self.policy = model
        self.world = world
        self.module = None
        if world.distributed:  # the update's forward; generation uses the model itself
            # No buffer broadcast before each forward: the model's buffers (rotary frequencies) are
            # the same on every rank by construction, and a collective per forward is one more place
            # for ranks to wait on each other.
            self.module = torch.nn.parallel.DistributedDataParallel(
                LogprobModule(model, temperature), device_ids=[device.index] if device.type == "cuda" else None,
                broadcast_buffers=False)

    def gathered(self):
        return contextlib.nullcontext()

    def save(self, run_dir: Path, step: int, *, tokenizer, optimizer, state: dict | None, config: dict,
             keep: int) -> Path | None:
        """Rank 0 writes the checkpoint (the weights and optimizer state are every rank's)."""
        if not self.world.main:
            return None
        return save_checkpoint(run_dir, step, model=self.model, tokenizer=tokenizer, config=config, keep=keep,
                               state={**state, "optimizer": optimizer.state_dict()})

    def load(self, checkpoint: Path, state: dict, optimizer) -> None:
        """The optimizer's state (load_policy read the weights from `model/`)."""
        optimizer.load_state_dict(state["optimizer"])

    def close(self) -> None:
        pass


class PolicyRoot(LogprobModule):
    """The FSDP2 root: the log-probs' forward, generation through it (so that FSDP gathers the
    root's own weights), and DDP's `no_sync` spelled for FSDP."""

    def generate(self, *args, **kwargs):
        # transformers syncs the ranks' decoding loops of an FSDP model (synced_gpus: every rank runs
        # forwards until all are done, for their all-gathers); inside `gathered` no forward gathers,
        # and rank 0 evaluates alone.
        return self.model.generate(*args, **kwargs, synced_gpus=False)

    @contextlib.contextmanager
    def no_sync(self):
        self.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            self.set_requires_gradient_sync(True)


def _checkpoint_error(exc: BaseException, what: str) -> BaseException | None:
    """torch.distributed.checkpoint reports a rank's failure as a CheckpointException, a BaseException
    (not an Exception): a RuntimeError carrying its text instead, so that what handles errors handles
    it. None for an Exception or an interrupt, which go on as they are."""
    if isinstance(exc, (Exception, KeyboardInterrupt, SystemExit, GeneratorExit)):
        return None
    return RuntimeError(f"{what}: {exc}")


def decoder_layers(model) -> torch.nn.ModuleList:
    """The decoder blocks FSDP shards one by one (`model.layers` of a transformers causal LM, found
    through a peft wrapper too)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
    layers = getattr(decoder, "layers", None)
    if not isinstance(layers, torch.nn.ModuleList) or len(layers) == 0:
        raise ConfigError([f"train.parallel: fsdp shards a model's decoder layers, and {type(base).__name__} "
                           f"has no list of them where transformers models keep it (get_decoder().layers); "
                           f"use train.parallel: ddp"])
    return layers


class Sharded:
    """`fsdp`: FSDP2 over the run's processes (see the module's docstring)."""

    def __init__(self, model, world: World, device: torch.device, dtype: torch.dtype, temperature: float):
        import torch.distributed as dist
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard, register_fsdp_forward_method

        self.model, self.world, self.dtype = model, world, dtype
        layers = decoder_layers(model)
        self._own_group = not dist.is_initialized()
        if self._own_group:  # one process (torchrun or not): FSDP still needs a process group, of one
            if device.type == "cuda":
                torch.cuda.set_device(device.index if device.index is not None else torch.cuda.current_device())
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo", store=dist.HashStore(),
                                    rank=0, world_size=1)
        mesh = init_device_mesh(device.type, (world.size,))
        mp = (MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32) if dtype != torch.float32
              else MixedPrecisionPolicy())
        for layer in layers:
            fully_shard(layer, mesh=mesh, mp_policy=mp)
        self.module = self.policy = fully_shard(PolicyRoot(model, temperature), mesh=mesh, mp_policy=mp)
        register_fsdp_forward_method(self.module, "generate")
        self._sharded = [m for m in self.module.modules() if isinstance(m, FSDPModule)]  # the root, the layers

    @contextlib.contextmanager
    def gathered(self):
        """The whole weights (in the compute dtype) on every rank for what runs inside, gathered on
        entry (every rank must enter) and freed on exit: no forward inside gathers, so ranks may
        run different numbers of them (generation), or rank 0 alone (evaluation)."""
        for m in self._sharded:
            m.set_reshard_after_forward(False, recurse=False)
            m.unshard()
        try:
            yield
        finally:
            for m in self._sharded:
                m.reshard()
                # Layers free their weights after each forward again; the root keeps FSDP's default
                # for a root (kept from forward to backward).
                m.set_reshard_after_forward(m is not self.module, recurse=False)

    def save(self, run_dir: Path, step: int, *, tokenizer, optimizer, state: dict | None, config: dict,
             keep: int) -> Path | None:
        """Every rank writes its shard into rank 0's temporary folder; rank 0 adds the whole weights
        (model/), the trainer state and the config, and renames it into place (save_checkpoint)."""
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                             get_state_dict)

        tmp = Path(broadcast(str(temporary_folder(run_dir, step)) if self.world.main else None, self.world))
        try:
            if self.world.main:
                shutil.rmtree(tmp, ignore_errors=True)
            barrier(self.world)
            model_state, optimizer_state = get_state_dict(self.module, optimizer, options=_trained())
            dcp.save({"model": model_state, "optimizer": optimizer_state}, checkpoint_id=tmp / SHARDS)
            # The whole weights, gathered one tensor at a time into rank 0's CPU memory (empty elsewhere).
            full = get_model_state_dict(self.module, options=StateDictOptions(
                full_state_dict=True, cpu_offload=True, ignore_frozen_params=True))
        except BaseException as exc:
            free, written = free_bytes(tmp.parent), folder_bytes(tmp)
            if self.world.main:
                shutil.rmtree(tmp, ignore_errors=True)
            final = tmp.parent / f"step-{step:06d}"
            if not isinstance(exc, (KeyboardInterrupt, SystemExit)) and is_disk_full(exc, tmp.parent):
                # The need: the weights (sharded/ and again model/) and the optimizer state.
                need = {"optimizer": optimizer.state_dict(), "model/": list(self.model.parameters())}
                raise DiskFullError(no_space_message(run_dir, final, written, free, self.model, need)) from exc
            error = _checkpoint_error(exc, f"saving checkpoint {final.name}")
            if error is None:
                raise
            raise error from exc
        if not self.world.main:
            return None
        # As the other strategies save them: a whole model in model.dtype, a LoRA adapter in float32
        # (peft keeps adapters in float32 over a bfloat16 model).
        lora = hasattr(self.model, "peft_config")
        weights = {k.removeprefix("model."): v if lora else v.to(self.dtype) for k, v in full.items()}
        # Tied weights (embeddings and head) were gathered as two tensors; as one again, save_pretrained
        # writes them once, as it does for the model itself.
        names: dict[int, list[str]] = {}
        for name, param in self.model.named_parameters(remove_duplicate=False):
            names.setdefault(id(param), []).append(name)
        for first, *aliases in names.values():
            for alias in aliases:
                if first in weights and alias in weights:
                    weights[alias] = weights[first]
        return save_checkpoint(run_dir, step, model=self.model, tokenizer=tokenizer, state=state, config=config,
                               keep=keep, weights=weights, started=True)

    def load(self, checkpoint: Path, state: dict, optimizer) -> None:
        """This rank's shard of the weights and optimizer state, exactly as saved."""
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

        if not (checkpoint / SHARDS / ".metadata").is_file():
            raise ConfigError([f"train.parallel: {checkpoint.name} has no {SHARDS}/ folder: it was not saved by a "
                               f"run with train.parallel fsdp"])
        model_state, optimizer_state = get_state_dict(self.module, optimizer, options=_trained())
        both = {"model": model_state, "optimizer": optimizer_state}
        try:
            dcp.load(both, checkpoint_id=checkpoint / SHARDS)
        except BaseException as exc:
            error = _checkpoint_error(exc, f"reading {checkpoint / SHARDS}")
            if error is None:
                raise
            raise error from exc
        # Not strict: the frozen weights are not in it (dcp.load has already refused a checkpoint
        # that lacks any of the trained ones).
        set_state_dict(self.module, optimizer, model_state_dict=both["model"], optim_state_dict=both["optimizer"],
                       options=_trained(strict=False))

    def close(self) -> None:
        import torch.distributed as dist

        if self._own_group and dist.is_initialized():
            dist.destroy_process_group()
