"""Run configuration: every knob of a training run, loaded from YAML/JSON and validated up front.

A config is refused *before* any model loads, with messages that name the field (and, for data
files, the line). `load_config(path, overrides)` is the one entry point; `to_dict` gives the
resolved form written into the run folder.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .advantage import ESTIMATORS
from .reward import REWARDS, REWARD_VARIANTS


class ConfigError(ValueError):
    """One or more invalid fields. `problems` holds `field: message` strings."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = problems
        where = f" in {source}" if source else ""
        super().__init__(f"invalid config{where}:\n" + "\n".join(f"  - {p}" for p in problems))


# One word in a config picks a baseline: (reward, advantage estimator, budget prompts on?).
METHODS: dict[str, tuple[str, str, bool]] = {
    "hbpo": ("hbpo", "hbpo", True),
    "grpo": ("binary", "grpo", False),
    "cosine": ("cosine", "grpo", False),
    "l1-exact": ("l1-exact", "grpo", True),
}


@dataclass
class TinyModelConfig:
    """Architecture of a randomly initialised model built locally (tests, smoke runs)."""

    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    intermediate_size: int = 128
    vocab_size: int = 512
    max_position_embeddings: int = 1024


@dataclass
class LoraConfig:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


@dataclass
class ModelConfig:
    # A local folder, a hub id (used only if already in the local cache), `tiny:llama` /
    # `tiny:qwen2` for a model built from `tiny` below, or `testbed:base` for the testbed's
    # over-thinking SFT model (built once into the cache, see hbpo/testbed/build.py).
    path: str = "tiny:llama"
    dtype: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | float32 | bfloat16 | float16
    tiny: TinyModelConfig = field(default_factory=TinyModelConfig)
    lora: LoraConfig | None = None
    gradient_checkpointing: bool = False


@dataclass
class DataConfig:
    train: str = "testbed:arith"  # a .json/.jsonl file, or a built-in `testbed:` set
    limit: int | None = None
    shuffle: bool = True


@dataclass
class PromptConfig:
    question_template: str = "{problem}\nPlease reason step by step, and put your final answer within \\boxed{}."
    system: str | None = None
    think_open: str = "<think>"
    # DESIGN.md: the authors' released code used "I will answer the question with {budget} tokens".
    budget_sentence: str = "I will answer the question within {budget} tokens."
    efficiency_sentence: str = "I will answer the question with minimal tokens."


@dataclass
class RewardConfig:
    name: str | None = None  # default: from `method`
    variant: str = "paper"  # paper | reference (hbpo only)
    alpha: float | None = None  # default 1 / max_response_tokens
    beta: float = 4.0


@dataclass
class AdvantageConfig:
    name: str | None = None  # default: from `method`
    eps: float = 1e-6


@dataclass
class GenerationConfig:
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    batch_size: int = 64  # sequences per generate() call


@dataclass
class OptimConfig:
    lr: float = 1e-6
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    max_grad_norm: float = 1.0
    warmup_steps: int = 0


@dataclass
class PPOConfig:
    clip_low: float = 0.2
    clip_high: float = 0.28
    epochs: int = 1
    mini_batch_queries: int | None = None  # queries per optimizer step; default: all of the step
    micro_batch_size: int = 8  # sequences per forward/backward (gradient accumulation)
    kl_coef: float = 0.0  # reported only; HBPO trains without a KL term


@dataclass
class TrainConfig:
    queries_per_step: int = 64
    steps: int | None = None  # default: one epoch over the training data
    checkpoint_every: int = 50
    keep_checkpoints: int = 3


@dataclass
class EvalConfig:
    every: int = 0  # steps; 0 = only when asked
    data: list[str] = field(default_factory=list)
    modes: list[str] = field(default_factory=lambda: ["natural", "efficiency"])
    limit: int | None = None
    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int | None = None  # default: max_response_tokens


@dataclass
class RunConfig:
    name: str | None = None
    dir: str = "runs"
    seed: int = 0
    device: str = "auto"  # auto picks CUDA when present | cpu | cuda | cuda:N
    threads: int | None = None  # CPU threads for torch; default: torch's own choice


@dataclass
class Config:
    method: str = "hbpo"
    tiers: list[int] = field(default_factory=lambda: [512, 1024, 2048, 2560])
    rollouts_per_query: int = 16
    max_response_tokens: int = 4096
    run: RunConfig = field(default_factory=RunConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    advantage: AdvantageConfig = field(default_factory=AdvantageConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    events_stdout: bool = False

    # --- derived views the trainer uses -------------------------------------------------------
    @property
    def uses_budget_prompts(self) -> bool:
        return METHODS[self.method][2]

    @property
    def rollout_tiers(self) -> list[int | None]:
        """The tier of each rollout group: the budgets, or one natural-mode group."""
        return list(self.tiers) if self.uses_budget_prompts else [None]

    @property
    def alpha(self) -> float:
        return self.reward.alpha if self.reward.alpha is not None else 1.0 / self.max_response_tokens


# ----------------------------------------------------------------------------------------------
# Loading: dict -> dataclasses with type checks that name the field.

def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str, problems: list[str]) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where, problems)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a mapping, got {value!r}")
            return tp()
        return _build(tp, value, where + ".", problems)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            problems.append(f"{where}: expected a list, got {value!r}")
            return []
        return [_coerce(v, item_tp, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            problems.append(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        # YAML 1.1 reads `3e-4` (no dot) as a string; accept what is plainly a number.
        if isinstance(value, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", value.strip()):
            return float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{where}: expected a number, got {value!r}")
            return value
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            problems.append(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {_type_name(tp)} at {where}")


def _build(cls: type, data: dict, prefix: str, problems: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in hints:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            problems.append(f"{prefix}{key}: unknown key{hint}")
            continue
        kwargs[key] = _coerce(value, hints[key], prefix + key, problems)
    return cls(**kwargs)


def _set_path(data: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError([f"{dotted}: '{key}' is not a section"])
    node[keys[-1]] = value


def parse_overrides(overrides: list[str]) -> list[tuple[str, Any]]:
    """`key.sub=value` strings; values are parsed as YAML scalars (`3`, `1e-6`, `[32, 64]`)."""
    parsed = []
    for item in overrides:
        if "=" not in item:
            raise ConfigError([f"--set {item}: expected key=value"])
        key, raw = item.split("=", 1)
        parsed.append((key.strip(), yaml.safe_load(raw) if raw.strip() else None))
    return parsed


def read_config_file(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"config: no such file {path}"])
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError([f"config: cannot parse: {exc}"], str(path)) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(["config: the top level must be a mapping"], str(path))
    return data


def load_config(path: str | Path | None = None, overrides: list[str] = (), *,
                base_dir: Path | None = None, check_files: bool = True) -> Config:
    """Read, override, build and validate. Relative paths resolve against the config's folder."""
    data = read_config_file(path) if path else {}
    for key, value in parse_overrides(list(overrides)):
        _set_path(data, key, value)
    source = str(path) if path else None
    problems: list[str] = []
    cfg = _build(Config, data, "", problems)
    if problems:
        raise ConfigError(problems, source)
    base = base_dir or (Path(path).resolve().parent if path else Path.cwd())
    _resolve_paths(cfg, base)
    validate(cfg, check_files=check_files, source=source)
    return cfg


def _resolve_paths(cfg: Config, base: Path) -> None:
    def resolve(p: str) -> str:
        if p.startswith("testbed:") or p.startswith("tiny:"):
            return p
        expanded = Path(p).expanduser()
        candidate = expanded if expanded.is_absolute() else base / expanded
        # A hub id ("Qwen/Qwen2.5-0.5B") that is not a local folder stays as written.
        if not candidate.exists() and _looks_like_hub_id(p):
            return p
        return str(candidate.resolve())

    cfg.model.path = resolve(cfg.model.path)
    cfg.data.train = resolve(cfg.data.train)
    cfg.eval.data = [resolve(p) for p in cfg.eval.data]


def _looks_like_hub_id(p: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", p)) and not p.startswith((".", "/", "~"))


def validate(cfg: Config, *, check_files: bool = True, source: str | None = None) -> None:
    """Every rule a run needs, checked before anything heavy happens."""
    from .data import DataError
    from .sources import validate_source

    p: list[str] = []
    if cfg.method not in METHODS:
        p.append(f"method: unknown method '{cfg.method}' (known: {', '.join(METHODS)})")
    L = cfg.max_response_tokens
    if L <= 0:
        p.append(f"max_response_tokens: must be positive, got {L}")
    tiers = cfg.tiers
    if cfg.method in METHODS and cfg.uses_budget_prompts:
        if not tiers:
            p.append(f"tiers: method '{cfg.method}' needs at least one budget tier")
        if any(t <= 0 for t in tiers):
            p.append(f"tiers: budgets must be positive, got {tiers}")
        if any(b <= a for a, b in zip(tiers, tiers[1:])):
            p.append(f"tiers: must be strictly ascending, got {tiers}")
        for t in tiers:
            if t > L:
                p.append(f"tiers: budget {t} exceeds max_response_tokens (L_max) {L}")
        if tiers and cfg.rollouts_per_query % len(tiers):
            p.append(f"rollouts_per_query: {cfg.rollouts_per_query} is not divisible by the "
                     f"{len(tiers)} tiers {tiers}")
    if cfg.rollouts_per_query < 1:
        p.append(f"rollouts_per_query: must be at least 1, got {cfg.rollouts_per_query}")
    if cfg.reward.alpha is not None and cfg.reward.alpha < 0:
        p.append(f"reward.alpha: must be >= 0, got {cfg.reward.alpha}")
    if cfg.reward.beta < 0:
        p.append(f"reward.beta: must be >= 0, got {cfg.reward.beta}")
    if cfg.reward.name is not None and cfg.reward.name not in REWARDS:
        p.append(f"reward.name: unknown reward '{cfg.reward.name}' (known: {', '.join(REWARDS)})")
    if cfg.reward.variant not in REWARD_VARIANTS:
        p.append(f"reward.variant: unknown variant '{cfg.reward.variant}' "
                 f"(known: {', '.join(REWARD_VARIANTS)})")
    if cfg.advantage.name is not None and cfg.advantage.name not in ESTIMATORS:
        p.append(f"advantage.name: unknown estimator '{cfg.advantage.name}' "
                 f"(known: {', '.join(ESTIMATORS)})")
    if cfg.ppo.clip_low < 0 or cfg.ppo.clip_high < 0:
        p.append("ppo.clip_low / ppo.clip_high: must be >= 0")
    if cfg.ppo.micro_batch_size < 1:
        p.append(f"ppo.micro_batch_size: must be at least 1, got {cfg.ppo.micro_batch_size}")
    mbq = cfg.ppo.mini_batch_queries
    if mbq is not None and (mbq < 1 or cfg.train.queries_per_step % mbq):
        p.append(f"ppo.mini_batch_queries: {mbq} must divide train.queries_per_step "
                 f"{cfg.train.queries_per_step}")
    if cfg.train.queries_per_step < 1:
        p.append(f"train.queries_per_step: must be at least 1, got {cfg.train.queries_per_step}")
    if cfg.train.steps is not None and cfg.train.steps < 1:
        p.append(f"train.steps: must be at least 1, got {cfg.train.steps}")
    if cfg.optim.lr <= 0:
        p.append(f"optim.lr: must be positive, got {cfg.optim.lr}")
    if len(cfg.optim.betas) != 2:
        p.append(f"optim.betas: expected two numbers, got {cfg.optim.betas}")
    if cfg.model.dtype not in ("auto", "float32", "bfloat16", "float16"):
        p.append(f"model.dtype: unknown dtype '{cfg.model.dtype}' (auto, float32, bfloat16, float16)")
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", cfg.run.device):
        p.append(f"run.device: expected auto, cpu, cuda or cuda:N, got '{cfg.run.device}'")
    if "{budget}" not in cfg.prompt.budget_sentence:
        p.append("prompt.budget_sentence: must contain {budget}")
    if "{problem}" not in cfg.prompt.question_template:
        p.append("prompt.question_template: must contain {problem}")
    for i, mode in enumerate(cfg.eval.modes):
        if not re.fullmatch(r"natural|efficiency|tier:\d+", mode):
            p.append(f"eval.modes[{i}]: expected natural, efficiency or tier:<budget>, got '{mode}'")
    if cfg.run.seed < 0:
        p.append(f"run.seed: must be >= 0, got {cfg.run.seed}")

    if check_files:
        mp = cfg.model.path
        if mp.startswith("tiny:"):
            if mp not in ("tiny:llama", "tiny:qwen2"):
                p.append(f"model.path: unknown built-in model '{mp}' (tiny:llama, tiny:qwen2)")
        elif mp.startswith("testbed:"):
            if mp != "testbed:base":
                p.append(f"model.path: unknown built-in model '{mp}' (testbed:base)")
        elif not Path(mp).exists() and not _looks_like_hub_id(mp):
            p.append(f"model.path: no such directory {mp}")
        for name, path in [("data.train", cfg.data.train)] + [
                (f"eval.data[{i}]", d) for i, d in enumerate(cfg.eval.data)]:
            try:
                count = validate_source(path)
                if count == 0:
                    p.append(f"{name}: {path} holds no problems")
            except DataError as exc:
                p.append(f"{name}: {exc}")
            except FileNotFoundError:
                p.append(f"{name}: no such file {path}")
    if p:
        raise ConfigError(p, source)


def to_dict(cfg: Config) -> dict:
    """The resolved config, with method defaults filled in, as written to the run folder."""
    out = dataclasses.asdict(cfg)
    reward, estimator, _ = METHODS[cfg.method]
    out["reward"]["name"] = cfg.reward.name or reward
    out["reward"]["alpha"] = cfg.alpha
    out["advantage"]["name"] = cfg.advantage.name or estimator
    return out


def resolved(cfg: Config) -> Config:
    """A copy with method defaults filled in (reward name, estimator, alpha)."""
    out = dataclasses.replace(cfg)
    reward, estimator, _ = METHODS[cfg.method]
    out.reward = dataclasses.replace(cfg.reward, name=cfg.reward.name or reward, alpha=cfg.alpha)
    out.advantage = dataclasses.replace(cfg.advantage, name=cfg.advantage.name or estimator)
    return out
