"""The HBPO training loop, top to bottom.

    for each step:
        draw queries  ->  hierarchical rollouts (n/k per tier)  ->  grade, reward, advantages
        ->  rollout events  ->  PPO-clip update  ->  step metrics  ->  eval / checkpoint
    on SIGINT/SIGTERM: abandon the step in progress, checkpoint, run_end "stopped", exit 0
"""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import signal
import time
import traceback
from pathlib import Path

import torch
import yaml

from . import __version__
from .checkpoint import (clean_stale_temporaries, latest_checkpoint, load_state, rng_state, set_rng_state,
                         write_text_atomic)
from .config import Config, ConfigError, resolved, short, to_dict
from .diskfull import DiskFullError, is_disk_full
from .dist import World, all_sum, any_rank, barrier, broadcast, gather, shard
from .engines import make_engine
from .evaluate import evaluate
from .events import EventLog, RankLog, read_events
from .metrics import rollout_metrics
from .model import count_parameters, load_policy, pick_device, pick_dtype
from .modes import parse_mode
from .rollout import hierarchical_rollouts
from .scoring import score
from .sharding import load_device, parallelize
from .testbed.build import BuildStopped
from .data import DataError
from .sources import load_source, source_name
from .update import ppo_update


class QuerySampler:
    """Deterministic query order: a seeded permutation per epoch, and a position in it."""

    def __init__(self, size: int, seed: int, shuffle: bool):
        if size < 1:  # draw() could never fill a batch; validation refuses such data before this
            raise ValueError("no problems to train on (data.train is empty, or data.limit is 0)")
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.epoch, self.position = 0, 0

    def _order(self) -> list[int]:
        order = list(range(self.size))
        if self.shuffle:
            random.Random(f"{self.seed}-{self.epoch}").shuffle(order)
        return order

    def draw(self, count: int) -> list[int]:
        picked = []
        while len(picked) < count:
            if self.position >= self.size:
                self.epoch, self.position = self.epoch + 1, 0
            take = min(count - len(picked), self.size - self.position)
            picked += self._order()[self.position:self.position + take]
            self.position += take
        return picked

    def state(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load(self, state: dict) -> None:
        self.epoch, self.position = state["epoch"], state["position"]


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop checks it between phases and inside generation."""

    def __init__(self):
        self.requested = False
        self.signal_name = ""

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum, _frame) -> None:
        self.requested = True
        self.signal_name = signal.Signals(signum).name

    def __call__(self) -> bool:
        return self.requested


def run_name(cfg: Config) -> str:
    """`run.name`, or the method and the time."""
    return cfg.run.name or f"{cfg.method}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def new_run_dir(cfg: Config) -> Path:
    run_dir = Path(cfg.run.dir) / run_name(cfg)
    if run_dir.exists() and any(run_dir.iterdir()):
        raise FileExistsError(f"run.name: {run_dir} already exists; resume it with "
                              f"`python -m hbpo resume {run_dir}` or choose another name")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def train(cfg: Config, run_dir: Path, *, resume: bool = False, stop: StopFlag | None = None,
          world: World | None = None) -> str:
    """Train until `train.steps` or a stop signal. Returns the run_end status.

    Under torchrun, `world` is this process's rank in the run (dist.py): it generates and updates on
    its share of each step's queries; rank 0 alone writes the run folder."""
    cfg = resolved(cfg)
    stop = stop or StopFlag()
    world = world or World()
    config_dict = to_dict(cfg)
    if resume and world.main:
        check_resume_config(run_dir, config_dict)
    events = EventLog(run_dir / "events.jsonl", stdout=cfg.events_stdout) if world.main else RankLog(world.rank)
    step, last_ckpt, par, engine = 0, None, None, None
    stop.install()
    try:
        if world.main:
            write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(config_dict, sort_keys=False))
        cleaned = clean_stale_temporaries(run_dir) if world.main else []
        if cleaned:
            events.log(step, f"removed {len(cleaned)} temporary checkpoint file(s) left by an interrupted save: "
                             f"{', '.join(cleaned)}")
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # stderr is a log a supervisor shows; no \r bars in it
        if cfg.run.threads:
            torch.set_num_threads(cfg.run.threads)
        device = pick_device(cfg.run.device)
        if world.distributed and device.type == "cuda":
            device = torch.device("cuda", world.local_rank)
        dtype = pick_dtype(cfg.model.dtype, device)
        random.seed(cfg.run.seed)
        torch.manual_seed(cfg.run.seed)

        problems = load_source(cfg.data.train, limit=cfg.data.limit)
        if not problems:
            raise DataError(f"data.train: {cfg.data.train} holds no problems (data.limit: {cfg.data.limit})")
        sampler = QuerySampler(len(problems), cfg.run.seed, cfg.data.shuffle)
        total_steps = cfg.train.steps or math.ceil(len(problems) / cfg.train.queries_per_step)

        checkpoint = latest_checkpoint(run_dir) if resume else None
        state = load_state(checkpoint) if checkpoint else None
        if state is not None:
            _check_saved_world(checkpoint.name, state, cfg, world)
        # The first run on a machine builds the testbed model (minutes): its progress goes to the
        # run's events too, so the editor shows what the run is doing before run_start.
        try:
            if not world.main:
                barrier(world)  # rank 0 builds the testbed model into the cache first, if it must
            model, tokenizer = load_policy(cfg.model, *load_device(cfg, device, dtype), seed=cfg.run.seed,
                                           weights_from=checkpoint / "model" if checkpoint else None,
                                           log=lambda message: events.log(step, message), should_stop=stop,
                                           testbed_version=cfg.testbed.version)
            if world.main:
                barrier(world)
        except BuildStopped as exc:  # Ctrl+C during the testbed's first build: a clean stop, no steps
            events.log(step, str(exc))
            events.emit("run_end", step, status="stopped", reason=f"received {stop.signal_name}", checkpoint=last_ckpt)
            return "stopped"
        # ddp: DistributedDataParallel for the update (or the plain model); fsdp: the model sharded (sharding.py).
        par = parallelize(model, cfg, world, device, dtype)
        engine = make_engine(cfg, par, tokenizer, device, dtype)  # hf, or vllm with the policy's weights
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.optim.lr,
                                      betas=tuple(cfg.optim.betas), weight_decay=cfg.optim.weight_decay)
        warmup = cfg.optim.warmup_steps
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / (warmup + 1)))
        if state is not None:
            par.load(checkpoint, state, optimizer)
            scheduler.load_state_dict(state["scheduler"])
            sampler.load(state["sampler"])
            set_rng_state(state["rng_ranks"][world.rank] if "rng_ranks" in state else state["rng"])
            step, last_ckpt = state["step"], str(checkpoint.relative_to(run_dir))

        params, trainable = count_parameters(model)
        events.emit("run_start", step, run_id=run_dir.name, config=config_dict, method=cfg.method,
                    tiers=list(cfg.tiers) if cfg.uses_budget_prompts else [],
                    max_response_tokens=cfg.max_response_tokens, total_steps=total_steps,
                    device=str(device), dtype=str(dtype).removeprefix("torch."), parameters=params,
                    trainable_parameters=trainable, pid=os.getpid(),
                    resumed_from_step=step if resume else None,
                    reward={"name": cfg.reward.name, "variant": cfg.reward.variant, "alpha": cfg.alpha,
                            "beta": cfg.reward.beta, "max_response_tokens": cfg.max_response_tokens},
                    advantage={"name": cfg.advantage.name, "eps": cfg.advantage.eps},
                    versions={"hbpo": __version__, "torch": torch.__version__},
                    world_size=world.size, devices=gather(str(device), world) or [])
        sharded = " (weights sharded: fsdp)" if cfg.train.parallel == "fsdp" else ""
        events.log(step, f"{'resuming at' if resume else 'starting'} step {step} of {total_steps} on "
                         f"{device} ({dtype}){sharded}, {len(problems)} problems, tiers {cfg.rollout_tiers}")

        def save(reason: str) -> str | None:
            # Every rank's RNG state (rank 0 saves them all): a resume at the same world size goes
            # on exactly. The weights and optimizer state: once (ddp) or every rank's shard (fsdp).
            rng_ranks = gather(rng_state(), world)
            state = {"scheduler": scheduler.state_dict(), "sampler": sampler.state(), "rng": rng_ranks[0],
                     "rng_ranks": rng_ranks, "world_size": world.size,
                     "parallel": cfg.train.parallel} if world.main else None
            path = par.save(run_dir, step, tokenizer=tokenizer, optimizer=optimizer, state=state,
                            config=config_dict, keep=cfg.train.keep_checkpoints)
            rel = None
            if world.main:
                rel = str(path.relative_to(run_dir))
                events.emit("checkpoint", step, path=rel, reason=reason)
            # Every rank knows the checkpoint (and waits for it to be complete before going on).
            return broadcast(rel, world)

        # This rank's queries of every step: its share of each mini-batch.
        mine = shard(cfg.train.queries_per_step, cfg.ppo.mini_batch_queries or cfg.train.queries_per_step, world)
        while step < total_steps and not any_rank(stop(), world):
            # State at the end of the last completed step, for a stop that abandons this one.
            resume_point = {"sampler": sampler.state(), "rng": rng_state()}
            t0 = time.perf_counter()
            _injected_failure(world, step + 1)
            batch = [problems[i] for i in sampler.draw(cfg.train.queries_per_step)]
            with engine.generating():  # hf under fsdp: the whole weights gathered; vllm on CUDA: awake
                rollouts, gen = hierarchical_rollouts(engine, tokenizer, batch, cfg, should_stop=stop,
                                                      queries=mine, seed=cfg.run.seed * 100_003 + step)
            if any_rank(stop(), world):  # generation was cut short: the step is abandoned, nothing was updated
                stop.requested = True
                sampler.load(resume_point["sampler"])
                set_rng_state(resume_point["rng"])
                break
            scored = score(rollouts, cfg)
            t1 = time.perf_counter()
            update = ppo_update(model, optimizer, scheduler, rollouts, [s["advantage"]["total"] for s in scored],
                                cfg, tokenizer.pad_token_id, device, world=world, wrapped=par.module)
            engine.policy_changed()  # vllm: the new weights into the engine
            t2 = time.perf_counter()
            step += 1
            # Rank 0 writes every rank's rollouts, in query order (as one process would).
            all_scored = gather(scored, world)
            tokens, gen_seconds = all_sum([float(gen.tokens), gen.seconds], world)
            if world.main:
                all_scored = sorted((s for part in all_scored for s in part), key=lambda s: s["query_index"])
                for s in all_scored:
                    events.emit("rollout", step, **s)
                step_wide, per_tier = rollout_metrics(all_scored, targets=cfg.uses_length_targets)
                gen_seconds /= world.size  # ranks generate at once: the step waited about the mean
                metrics = step_wide | update | {
                    "tokens/generated": tokens, "tokens_per_s": tokens / max(gen_seconds, 1e-9),
                    "time/generate_s": gen_seconds, "time/update_s": t2 - t1, "time/step_s": t2 - t0}
                events.emit("step", step, metrics=metrics, per_tier=per_tier)

            if cfg.eval.every and (step % cfg.eval.every == 0 or step == total_steps):
                # Rank 0 evaluates; the others wait (under fsdp they gather the weights with it first).
                with engine.generating():
                    if world.main:
                        run_evals(engine, tokenizer, cfg, events, step, stop)
                barrier(world)
            if step % cfg.train.checkpoint_every == 0 and step < total_steps:
                last_ckpt = save("periodic")

        status = "stopped" if any_rank(stop(), world) else "finished"
        if step > 0 and (last_ckpt is None or not last_ckpt.endswith(f"{step:06d}")):
            last_ckpt = save("stop" if status == "stopped" else "final")
        reason = f"received {stop.signal_name}" if status == "stopped" else f"completed {step} steps"
        events.log(step, f"run {status}: {reason}; checkpoint {last_ckpt}")
        events.emit("run_end", step, status=status, reason=reason, checkpoint=last_ckpt)  # always last
        return status
    except BaseException as exc:
        # A full disk is said plainly (DiskFullError names the path and the need); anything else
        # keeps its type. `finish` lands these two even on a full disk.
        message = str(exc) if isinstance(exc, DiskFullError) else f"{type(exc).__name__}: {exc}"
        if is_disk_full(exc) and not isinstance(exc, DiskFullError):
            message = f"no space left on device: {message}"
        events.finish("log", step, level="error", message=traceback.format_exc())
        events.finish("run_end", step, status="failed", reason=message, checkpoint=last_ckpt)
        raise
    finally:
        if engine is not None:
            engine.close()
        if par is not None:
            par.close()
        events.close()


def _check_saved_world(name: str, state: dict, cfg: Config, world: World) -> None:
    """Refuse to resume a checkpoint with another world size or another train.parallel: its RNG
    states (and, under fsdp, its shards) are one per rank of the run that saved it."""
    saved_world, saved_parallel = state.get("world_size", 1), state.get("parallel", "ddp")
    if saved_world != world.size:
        raise ConfigError([f"--nproc: {name} was saved by a run of {saved_world} process(es); "
                           f"resume it with --nproc {saved_world} (this start has {world.size})"])
    if saved_parallel != cfg.train.parallel:
        raise ConfigError([f"train.parallel: {name} was saved with train.parallel {saved_parallel}; resume it "
                           f"with the same (this start has {cfg.train.parallel})"])


def _injected_failure(world: World, step: int) -> None:
    """Fault injection for the multi-process tests: HBPO_TEST_FAIL=<rank>:<step> makes that rank raise
    as that step begins (a rank that dies mid-run, as an out-of-memory error would make it)."""
    spec = os.environ.get("HBPO_TEST_FAIL", "")
    if spec and spec == f"{world.rank}:{step}":
        raise RuntimeError(f"injected failure on rank {world.rank} at step {step} (HBPO_TEST_FAIL)")


# What a resume may change: how long the run goes on, how often it saves and evaluates, where it
# runs. Everything else shapes the update and must match the config the run trained with.
RESUME_MAY_CHANGE = ("train.steps", "train.checkpoint_every", "train.keep_checkpoints", "run.threads",
                     "run.device", "run.dir", "run.name", "eval.", "events_stdout")


def _flat(d: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _flat(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def recorded_config(run_dir: Path) -> tuple[str, dict] | None:
    """The config the run trained with: its latest checkpoint's, else its last run_start's."""
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is not None and (checkpoint / "config.yaml").is_file():
        return f"checkpoint {checkpoint.name}", yaml.safe_load((checkpoint / "config.yaml").read_text())
    path = run_dir / "events.jsonl"
    if path.is_file():
        starts = [e for e in read_events(path)[0] if isinstance(e, dict) and e.get("type") == "run_start"]
        if starts and isinstance(starts[-1].get("config"), dict):
            return "the run's last run_start event", starts[-1]["config"]
    return None


def check_resume_config(run_dir: Path, config_dict: dict) -> None:
    """Refuse to resume with a config that differs from the recorded one where it matters (a
    config.yaml edited, cut short or replaced): name every differing field and both values."""
    recorded = recorded_config(run_dir)
    if recorded is None:
        return
    where, old = recorded
    new_flat, old_flat = _flat(config_dict), _flat(old if isinstance(old, dict) else {})
    # A key the recorded config lacks was added to the trainer since: the run used its default
    # (unless the recorded config has a section there, as model.lora: {r: ...} over None).
    for k, v in _flat(to_dict(resolved(Config()))).items() if old_flat else ():
        if k not in old_flat and not any(o.startswith(k + ".") or k.startswith(o + ".") for o in old_flat):
            old_flat[k] = v
    differ = [k for k in sorted(new_flat.keys() | old_flat.keys())
              if new_flat.get(k, "<absent>") != old_flat.get(k, "<absent>")
              and not any(k == m or (m.endswith(".") and k.startswith(m)) for m in RESUME_MAY_CHANGE)]
    if differ:
        allowed = ", ".join(m + "*" if m.endswith(".") else m for m in RESUME_MAY_CHANGE)
        raise ConfigError([f"{k}: is {short(new_flat.get(k, '<absent>'))} now but "
                           f"{short(old_flat.get(k, '<absent>'))} in {where}" for k in differ]
                          + [f"resume: {run_dir / 'config.yaml'} (with its overrides) must match {where}, "
                             f"which the run trained with; a resume may change only {allowed}. Restore "
                             f"config.yaml or start a new run"], source=str(run_dir / "config.yaml"))


def run_evals(engine, tokenizer, cfg: Config, events: EventLog, step: int, stop: StopFlag) -> None:
    # Seeded by run and step (apart from the rollouts' seeds), so an eval samples the same whatever
    # the engine generated before it: one process or several, a resumed run or not. Every mode and
    # dataset draws from the same numbers, which makes their comparison a paired one.
    seed = (cfg.run.seed * 100_003 + step) ^ 0x5EED_E7A1
    for spec in cfg.eval.data:
        problems = load_source(spec, limit=cfg.eval.limit)
        for mode in cfg.eval.modes:
            result = evaluate(engine, tokenizer, problems, parse_mode(mode), cfg, dataset=source_name(spec),
                              should_stop=stop, seed=seed)
            if stop():
                return
            events.emit("eval", step, **result)
