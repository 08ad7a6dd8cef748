"""Config keys do what they say (issue 13): every leaf field of the config dataclasses is either
read (a run with another value behaves differently) or refused (with the field named).

The walk is derived from the dataclasses: a field added to `hbpo/config.py` without an entry in
KEYS fails `test_every_config_key_is_read_or_refused` by name. Each entry gives an alternative
value and, where the field only acts in some setting, the context that makes it act (both the
baseline and the alternative run in that context). A run is fingerprinted by what it did, not by
what it echoes: its events (times, pids, run ids, speed figures and the config echoes removed),
the bytes of every file of its checkpoints' `model/` folders, the tensors and positions of their
trainer state (not the optimizer's or scheduler's hyper-parameters, which echo the config), the
run folder's layout, the prompts and outputs of every generate call (evaluation outputs are not in
the events), the batch shapes of the update's forward passes, and the scoring of a fixed set of
rollouts (the random tiny model answers nothing correctly, so reward terms that only act on correct
answers would not show otherwise). Fields no fingerprint can show on a CPU get a probe of their own:
stdout (events_stdout), torch's thread count after the run (run.threads), the model's gradient
checkpointing flag. Every context's baseline is run twice and must give the same fingerprint, so a
difference is the field's doing, never noise.
"""

from __future__ import annotations

import contextlib
import importlib.util
import copy
import dataclasses
import hashlib
import io
import json
import signal
import time
import types
import typing
from pathlib import Path

import pytest
import torch
import yaml

import hbpo.evaluate
import hbpo.rollout
import hbpo.train
import hbpo.update
from conftest import REPO, tiny_config
from hbpo.config import Config, ConfigError, load_config, resolved
from hbpo.data import Problem
from hbpo.rollout import Rollout
from hbpo.scoring import score

CUDA = torch.cuda.is_available()
VLLM = importlib.util.find_spec("vllm") is not None


@dataclasses.dataclass(frozen=True)
class Key:
    alt: typing.Any  # another valid-looking value
    ctx: dict = dataclasses.field(default_factory=dict)  # dotted overrides both runs share
    refused: bool = False  # the alternative must be refused, naming the field


# What makes every key act on top of tiny_config(): one training step, two optimizer steps in it
# (mini-batches of one query: the second sees a policy ratio != 1, moved enough at lr 1e-2 for the
# clip to act, and Adam's betas act), a
# checkpoint, and an evaluation in all three modes.
BASE = {
    "data.train": "train",
    "train.steps": 1, "train.checkpoint_every": 1, "train.keep_checkpoints": 2,
    "ppo.mini_batch_queries": 1, "optim.lr": 1e-2,
    "eval.every": 1, "eval.data": ["val"], "eval.modes": ["natural", "efficiency", "tier:8"],
    "eval.limit": 2,
    "run.name": "r", "run.threads": 1,
}
TWO_STEPS = {"train.steps": 2}
LORA = {"model.lora": {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}}
L1 = {"method": "l1-exact", "reward.target_min": 4, "reward.target_max": 20}
# Positive advantages for clip-higher to act on: the random tiny model answers nothing and runs to
# L_max, so every HBPO advantage is negative; L1's length penalty against the two tiers (wrong
# answers keep it) with GRPO's group normalisation gives the larger tier's rollouts positive ones.
POSITIVE = {"reward.name": "l1-exact", "advantage.name": "grpo"}

KEYS: dict[str, Key] = {
    "method": Key("grpo"),
    "tiers": Key([8, 12]),
    "rollouts_per_query": Key(2),
    "max_response_tokens": Key(16),
    "events_stdout": Key(True),  # probe: stdout
    "run.name": Key("other"),
    "run.dir": Key("elsewhere"),  # relative to the test's folder, see `run_config`
    "run.seed": Key(8),
    # On a machine without CUDA, `cuda` is refused naming run.device; with one, the run moves there.
    "run.device": Key("cuda", refused=not CUDA),
    "run.threads": Key(2),  # probe: torch.get_num_threads() after the run
    "model.path": Key("tiny:qwen2"),
    "model.dtype": Key("bfloat16"),
    "model.gradient_checkpointing": Key(True),  # probe: the model's flag
    "model.tiny.hidden_size": Key(64),
    "model.tiny.layers": Key(2),
    "model.tiny.heads": Key(4),
    "model.tiny.kv_heads": Key(2),
    "model.tiny.intermediate_size": Key(96),
    "model.tiny.vocab_size": Key(330),
    "model.tiny.max_position_embeddings": Key(512),
    "model.lora.r": Key(8, LORA),
    "model.lora.alpha": Key(16, LORA),
    "model.lora.dropout": Key(0.1, LORA),
    "model.lora.target_modules": Key(["q_proj"], LORA),
    "data.train": Key("val"),  # names mapped to small problem files, see `write_problems`
    "data.limit": Key(3),
    "data.shuffle": Key(False),
    "prompt.question_template": Key("Q: {problem}"),
    "prompt.system": Key("Be brief."),
    "prompt.think_open": Key("<reasoning>"),
    "prompt.budget_sentence": Key("Budget: {budget} tokens."),
    "prompt.efficiency_sentence": Key("Be quick."),
    "prompt.target_sentence": Key("Use {target} tokens.", L1),
    "reward.name": Key("binary"),
    "reward.variant": Key("reference"),
    "reward.alpha": Key(0.5),
    "reward.beta": Key(2.0),
    "reward.target_min": Key(20, L1),
    "reward.target_max": Key(4, L1),
    "advantage.name": Key("hbpo-reference"),
    "advantage.eps": Key(0.5),
    "generation.temperature": Key(0.7),
    "generation.top_p": Key(0.5),
    "generation.top_k": Key(5),
    "generation.batch_size": Key(3),
    # Without vLLM in this Python (the main venv) `vllm` is refused naming the install command;
    # tests/test_vllm.py runs it where vLLM is installed.
    "generation.engine": Key("vllm", refused=not VLLM),
    "testbed.version": Key(3, refused=True),  # with model.path tiny:llama; with testbed:base see test_testbed
    "generation.vllm_gpu_memory": Key(0.5, refused=True),  # refused with engine hf (and on CPU with vllm)
    "optim.lr": Key(2e-2),
    "optim.weight_decay": Key(0.1),
    "optim.betas": Key([0.8, 0.99]),
    "optim.max_grad_norm": Key(1e-3),
    "optim.warmup_steps": Key(3),
    "ppo.clip_low": Key(0.01),
    "ppo.clip_high": Key(0.01, POSITIVE),
    "ppo.epochs": Key(2),
    "ppo.mini_batch_queries": Key(2),
    "ppo.micro_batch_size": Key(2),
    "ppo.kl_coef": Key(0.1, refused=True),
    "train.queries_per_step": Key(4),
    "train.steps": Key(2),
    "train.checkpoint_every": Key(5, TWO_STEPS),
    "train.keep_checkpoints": Key(1, TWO_STEPS),
    "train.parallel": Key("fsdp"),  # FSDP2 over a group of one: sharded/ in every checkpoint
    "eval.every": Key(0),
    "eval.data": Key(["test"]),
    "eval.modes": Key(["natural"]),
    "eval.limit": Key(3),
    "eval.temperature": Key(0.0),
    "eval.top_p": Key(0.5),
    "eval.max_tokens": Key(8),
}


def leaf_fields(cls: type = Config, prefix: str = "") -> list[str]:
    """Dotted paths of every leaf field, descending into (optional) dataclass fields."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        if dataclasses.is_dataclass(tp):
            out += leaf_fields(tp, f"{prefix}{f.name}.")
        else:
            out.append(prefix + f.name)
    return out


def put(cfg: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    node = cfg
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = copy.deepcopy(value)


def write_problems(folder: Path) -> dict[str, str]:
    """Small problem files (the testbed splits take a second to generate, twice a run)."""
    files = {}
    for name, count, offset in (("train", 12, 0), ("val", 6, 100), ("test", 6, 200)):
        path = folder / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"problem": f"Let a = {i} + {i + 1}. What is a?", "answer": str(2 * i + 1)})
                                + "\n" for i in range(offset, offset + count)))
        files[name] = str(path)
    return files


def run_config(root: Path, overrides: dict, data: dict[str, str]) -> dict:
    cfg = tiny_config()
    cfg["run"]["dir"] = "runs"
    for dotted, value in {**BASE, **overrides}.items():
        put(cfg, dotted, value)
    cfg["run"]["dir"] = str(root / cfg["run"]["dir"])
    cfg["data"]["train"] = data.get(cfg["data"]["train"], cfg["data"]["train"])
    cfg["eval"]["data"] = [data.get(d, d) for d in cfg["eval"]["data"]]
    return cfg


# ------------------------------------------------------------------------------------ fingerprint

def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _tensor_digest(t: torch.Tensor) -> str:
    t = t.detach().cpu().contiguous()
    return f"{t.dtype}{tuple(t.shape)}:{_digest(t.reshape(-1).view(torch.uint8).numpy().tobytes())}"


def _plain(obj):
    """Tensors -> digests, tuples -> lists, for comparing nested state."""
    if isinstance(obj, torch.Tensor):
        return _tensor_digest(obj)
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


# Event fields that say when, by whom or how fast, or echo the config: never behaviour.
DROP_EVENT = {"time", "pid", "run_id", "config", "versions", "method", "tiers", "max_response_tokens",
              "total_steps", "tokens_per_s"}
DROP_METRIC_PREFIX = ("time/", "tokens_per_s")


def events_fingerprint(run_dir: Path) -> list:
    out = []
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "log":  # messages carry paths and echo settings
            continue
        event = {k: v for k, v in event.items() if k not in DROP_EVENT}
        if "metrics" in event:
            event["metrics"] = {k: v for k, v in event["metrics"].items() if not k.startswith(DROP_METRIC_PREFIX)}
        out.append(event)
    return out


def checkpoints_fingerprint(run_dir: Path) -> dict:
    out = {}
    for ckpt in sorted((run_dir / "checkpoints").glob("step-*")):
        files = {str(p.relative_to(ckpt)): _digest(p.read_bytes())
                 for p in sorted((ckpt / "model").rglob("*")) if p.is_file()}
        state = torch.load(ckpt / "trainer_state.pt", map_location="cpu", weights_only=False)
        # not param_groups: lr, betas... (train.parallel fsdp keeps the optimizer in sharded/, in `layout`)
        kept = {"step": state["step"], "sampler": state["sampler"], "rng": _plain(state["rng"]),
                "optimizer_state": _plain(state["optimizer"]["state"]) if "optimizer" in state else "sharded/"}
        out[ckpt.name] = {"model": files, "state": kept}
    return out


def layout(root: Path, run_dir: Path) -> list[str]:
    return [str(run_dir.relative_to(root))] + sorted(
        str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if not p.name.startswith(".events.jsonl.reserve"))


PROBE_PROBLEM = Problem(id="p", problem="1 + 1", answer="2", difficulty=None, source="probe")


def scoring_fingerprint(cfg: Config) -> list:
    """The trainer's scoring of fixed rollouts: correct short, correct long, wrong, truncated, under
    two lengths (tiers, or l1-exact targets)."""
    rollouts = []
    for tier in (2, 16):  # n = 1 under tier 2: the reference variant's min(f1, f2) is f1 < f2 there
        for k, (n, text, truncated) in enumerate([(1, "\\boxed{2}", False), (12, "\\boxed{2}", False),
                                                   (14, "\\boxed{3}", False), (16, "", True)]):
            rollouts.append(Rollout(query_index=0, problem=PROBE_PROBLEM, tier=tier, sample=k, prompt="",
                                    prompt_ids=[], response_ids=[], text=text, n_gen=n, truncated=truncated,
                                    token_marks=[]))
    return [(s["reward"], s["advantage"]) for s in score(rollouts, resolved(cfg))]


class Spy:
    """Records what the run handed to the model: generate calls and the update's forward passes."""

    def __init__(self, monkeypatch):
        self.calls: list = []
        self.model = None
        real_generate, real_forward, real_load = (hbpo.rollout.generate, hbpo.update.forward_logprobs,
                                                  hbpo.train.load_policy)

        def generate(model, tokenizer, prompts, **kw):
            results, stats = real_generate(model, tokenizer, prompts, **kw)
            self.calls.append(("generate", list(prompts), [r for _, r in results]))
            return results, stats

        def forward(model, seqs, temperature):
            self.calls.append(("forward", tuple(seqs.tokens.shape)))
            return real_forward(model, seqs, temperature)

        def load(*args, **kw):
            self.model, tokenizer = real_load(*args, **kw)
            return self.model, tokenizer

        monkeypatch.setattr(hbpo.rollout, "generate", generate)  # the hf engine's, rollouts and evaluation
        monkeypatch.setattr(hbpo.update, "forward_logprobs", forward)
        monkeypatch.setattr(hbpo.train, "load_policy", load)


class Refused(Exception):
    pass


def fingerprint(root: Path, overrides: dict, spy: Spy, data: dict[str, str]) -> dict:
    """Run the config in-process; its fingerprint, or Refused with the error's message.
    `data` maps the names `train`, `val`, `test` in data.train and eval.data to files."""
    cfg_dict = run_config(root, overrides, data)
    path = root / f"config-{time.monotonic_ns()}.yaml"
    path.write_text(yaml.safe_dump(cfg_dict))
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        raise Refused(str(exc)) from None
    run_dir = hbpo.train.new_run_dir(cfg)
    spy.calls, spy.model = [], None
    torch.set_num_threads(1)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    stdout = io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
            status = hbpo.train.train(cfg, run_dir)
    except Exception as exc:  # noqa: BLE001 - a refusal at start (run.device) is an outcome
        raise Refused(f"{type(exc).__name__}: {exc}") from None
    finally:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        for s, h in handlers.items():
            signal.signal(s, h)
    assert status == "finished"
    return {
        "events": events_fingerprint(run_dir),
        "checkpoints": checkpoints_fingerprint(run_dir),
        "layout": layout(root, run_dir),
        "model calls": spy.calls,
        "scoring": scoring_fingerprint(cfg),
        "stdout events": [json.loads(line)["type"] for line in stdout.getvalue().splitlines() if line.strip()],
        "threads": threads,
        "gradient checkpointing": bool(getattr(spy.model, "is_gradient_checkpointing", False)),
    }


def test_every_config_key_is_read_or_refused(tmp_path, monkeypatch):
    started = time.perf_counter()
    fields = leaf_fields()
    missing, stale = sorted(set(fields) - set(KEYS)), sorted(set(KEYS) - set(fields))
    assert not missing, f"config fields with no entry in KEYS (say how each is read or refused): {missing}"
    assert not stale, f"KEYS entries that are no config field: {stale}"

    spy = Spy(monkeypatch)
    data = write_problems(tmp_path)
    runs = 0
    timings = []

    def run(name: str, overrides: dict):
        nonlocal runs
        runs += 1
        root = tmp_path / f"{runs:03d}-{name}"
        root.mkdir()
        t0 = time.perf_counter()
        try:
            return fingerprint(root, overrides, spy, data)
        finally:
            timings.append((time.perf_counter() - t0, name))

    baselines: dict[str, dict] = {}
    problems = []
    for field in fields:
        key = KEYS[field]
        ctx_id = json.dumps(key.ctx, sort_keys=True)
        if ctx_id not in baselines:
            baselines[ctx_id] = run("baseline", key.ctx)
            again = run("baseline-again", key.ctx)
            diff = [part for part in again if again[part] != baselines[ctx_id][part]]
            assert not diff, f"the baseline {key.ctx or '(no context)'} is not reproducible: {diff} differ"
        try:
            got = run(field, {**key.ctx, field: key.alt})
        except Refused as exc:
            if not key.refused:
                problems.append(f"{field}: {key.alt!r} was refused, expected it read: {str(exc)[:300]}")
            elif field not in str(exc):
                problems.append(f"{field}: refused without naming the field: {str(exc)[:300]}")
            continue
        if key.refused:
            problems.append(f"{field}: {key.alt!r} was accepted, expected a refusal naming the field")
            continue
        if got == baselines[ctx_id]:
            problems.append(f"{field}: {key.alt!r} changes nothing a run does (silently ignored)")
    elapsed = time.perf_counter() - started
    slowest = ", ".join(f"{name} {t:.1f} s" for t, name in sorted(timings, reverse=True)[:5])
    print(f"\n{len(fields)} config keys, {runs} runs, {elapsed:.0f} s (slowest: {slowest})")
    assert problems == [], "\n".join(problems)


def test_the_walk_finds_nested_and_optional_fields():
    fields = leaf_fields()
    assert {"model.tiny.vocab_size", "model.lora.r", "ppo.kl_coef", "eval.max_tokens", "events_stdout"} <= set(fields)
    assert "model.lora" not in fields and "model" not in fields


# ------------------------------------------------------------------------------------- refusals

def refusal(write_config, **overrides) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tiny_config(**overrides)))
    return str(info.value)


def test_a_kl_coefficient_is_refused_naming_the_field(write_config):
    message = refusal(write_config, ppo__kl_coef=0.05)
    assert "ppo.kl_coef: HBPO trains without a KL term; only 0 is accepted" in message
    assert "not implemented" in message
    load_config(write_config(tiny_config(ppo__kl_coef=0.0)))  # 0 states the default


@pytest.mark.parametrize("overrides, needle", [
    ({"method": "grpo", "reward__variant": "reference"}, "reward.variant: only the hbpo reward reads it"),
    ({"reward__name": "cosine", "reward__variant": "reference"}, "reward.variant: only the hbpo reward"),
    ({"reward__target_min": 50}, "reward.target_min: only method l1-exact draws target lengths"),
    ({"reward__target_max": 50}, "reward.target_max: only method l1-exact"),
    ({"prompt__target_sentence": "Use {target}."}, "prompt.target_sentence: only method l1-exact"),
    ({"method": "grpo", "reward__name": "hbpo"}, "reward.name: the hbpo reward scores each rollout against a budget"),
    ({"method": "cosine", "reward__name": "l1-exact"}, "reward.name: the l1-exact reward"),
    ({"method": "grpo", "advantage__name": "hbpo"}, "advantage.name: the hbpo estimator needs budget tiers"),
    ({"method": "l1-exact", "reward__target_min": 30, "reward__target_max": 20},
     "reward.target_min: 30 is above reward.target_max 20"),
    ({"method": "l1-exact"}, "reward.target_max: 4000 exceeds max_response_tokens (L_max) 24"),
    ({"method": "l1-exact", "reward__target_max": 20, "prompt__target_sentence": "Be short."},
     "prompt.target_sentence: must contain {target}"),
    ({"method": "l1-exact", "reward__target_min": 0, "reward__target_max": 20},
     "reward.target_min: must be at least 1"),
])
def test_keys_a_run_would_ignore_or_fail_on_are_refused(write_config, overrides, needle):
    assert needle in refusal(write_config, **overrides)


def test_an_unknown_engine_or_a_missing_vllm_is_refused_with_what_to_do(write_config, monkeypatch):
    assert "generation.engine: unknown engine 'sglang'" in refusal(write_config, generation__engine="sglang")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    message = refusal(write_config, generation__engine="vllm")
    assert "generation.engine: vllm is not installed in this Python" in message
    assert "npm run setup -- --vllm" in message and ".venv-vllm/bin/python" in message


def test_a_config_without_data_train_trains_on_the_testbed_split(tmp_path):
    assert Config().data.train == "testbed:train"
    path = tmp_path / "c.yaml"
    path.write_text("method: hbpo\n")  # no data section at all
    cfg = load_config(path)
    assert cfg.data.train == "testbed:train"


# ------------------------------------------------------------------------------------ clipping

def test_the_paper_config_takes_four_optimizer_steps_a_batch():
    cfg = load_config(REPO / "trainer" / "hbpo" / "configs" / "paper.yaml", check_files=False)
    assert cfg.train.queries_per_step == 64 and cfg.ppo.mini_batch_queries == 16


def test_clipping_acts_when_a_batch_takes_several_optimizer_steps(write_config):
    """With one query per mini-batch, the later mini-batches of a step see a policy the earlier ones
    moved: the ratio leaves [1 - clip_low, 1 + clip_high] and the clip acts. With one mini-batch of
    the whole batch (paper.yaml before this fix) the ratio is exactly 1 and it never does. The
    random tiny model answers nothing correctly, so every HBPO advantage is negative (only the low
    side can act); L1's length penalty against the tiers with GRPO's normalisation gives positive
    advantages too, for clip-higher."""
    def first_step(name: str, mini_batch_queries: int, **overrides) -> dict:
        cfg = load_config(write_config(tiny_config(train__queries_per_step=4, train__steps=1, optim__lr=1e-2,
                                                   ppo__mini_batch_queries=mini_batch_queries, run__name=name,
                                                   **overrides), f"{name}.yaml"))
        run_dir = hbpo.train.new_run_dir(cfg)
        assert hbpo.train.train(cfg, run_dir) == "finished"
        events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
        return [e for e in events if e["type"] == "step"][0]["metrics"]

    several = first_step("several", 1)
    assert several["optimizer_steps"] == 4
    assert several["clip_frac"] > 0 and several["clip_frac/low"] > 0, several
    positive = first_step("positive", 1, reward__name="l1-exact", advantage__name="grpo")
    assert positive["clip_frac/high"] > 0, positive
    one = first_step("one", 4)
    assert one["optimizer_steps"] == 1
    assert one["clip_frac"] == 0, one
