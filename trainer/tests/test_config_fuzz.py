"""Config fuzzing: whatever a config file holds, validation ends in a ConfigError naming the field
(or the file), or accepts a config whose every value a run can use.

Validation only (no model loads). Size: HBPO_FUZZ_CASES (default 300), seed: HBPO_FUZZ_SEED.
The counts are printed (`pytest -s` shows them): fuzzed / refused / accepted.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import hbpo_cmd, tiny_config
from hbpo.config import METHODS, RANGES, Config, ConfigError, _numbers, load_config
from hbpo.data import DataError

CASES = int(os.environ.get("HBPO_FUZZ_CASES", "300"))
SEED = int(os.environ.get("HBPO_FUZZ_SEED", "20240611"))
TOP_LEVEL = {f.name for f in dataclasses.fields(Config)}

# Text spliced into the YAML as written (values yaml.safe_dump cannot produce or would quote).
RAW = ["1e400", "1.0e+400", "-1.0e+400", ".nan", ".inf", "-.inf", "9" * 5000, "-" + "9" * 30,
       "2**64", "0x10", "0o17", "1_000", "!!binary aGVsbG8=", "!!set {a, b}", "2024-01-01", "~",
       "&x [1, 2]", "*nosuchanchor", "!!python/object:os.system {}", "'\\x00'", '"\\0"', "yes", "No",
       "[" * 40 + "]" * 40, "{a: {b: {c: 1}}}", "[.nan, .inf]", "[2, 3]", "[-1, 0.5]", "[0.9]", "1e-3", "3e-4",
       '"\\u202e"', '"cuda:\\u0661"', '"tier:0"', '"tier:\\u0661"', '"../.."', '"a/b"', '"."', '""', '" "']

VALUES = [None, True, False, 0, -1, 1, 2, 3, 7, 2**31, 2**32 - 1, 2**32, 2**63, 2**64, -2**63, 0.0, -0.0, 0.5,
          1.0, 1.5, -0.5, 1e-12, 1e30, float("nan"), float("inf"), float("-inf"), "", " ", "x" * 5000,
          "ü€😀", "\u202e", "tiny:llama", "tiny:gpt", "testbed:base", "testbed:nope", "auto", "cpu", "cuda:0",
          "natural", "tier:8", "{problem}", "{budget}", "hbpo", "grpo", "paper", [], [1], [2, 3], [8, 16],
          [16, 8], [0.9, 0.999], ["q_proj"], [""], {}, {"a": 1}, {"r": 4, "alpha": 8}, [[[[1]]]]]


def base_config(data_file: Path) -> dict:
    cfg = tiny_config(data__train=str(data_file))
    cfg["run"]["dir"] = str(data_file.parent / "runs")
    cfg["eval"] = {"every": 0, "data": [], "modes": ["natural", "tier:8"]}
    cfg["model"]["lora"] = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj"]}
    return cfg


def leaves(node, path=()):
    """Every (path, value) of a nested dict/list, containers included."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, path + (i,))


def put(cfg, path, value):
    node = cfg
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value


def dump(cfg: dict, raws: dict[str, str]) -> str:
    text = yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True, width=10**6)
    for marker, raw in raws.items():
        text = text.replace(f"'{marker}'", raw).replace(marker, raw)
    return text


def boundary_cases() -> list[tuple[str, object]]:
    """For each ranged field: its bounds and the values just outside them, as --set overrides."""
    out = []
    for key, rng in RANGES.items():
        field = key.replace("[]", "")
        if field in ("optim.betas", "tiers"):
            continue  # lists: covered by the random cases
        for v in (rng.lo, rng.hi):
            if v is None:
                continue
            for d in (-1, 0, 1, -1e-9, 1e-9):
                out.append((field, v + d))
    return out


def mutate(rng: random.Random, base: dict) -> tuple[str, bytes, list[str]]:
    """One mutated config: (file suffix, file bytes, --set overrides)."""
    cfg = json.loads(json.dumps(base))
    raws: dict[str, str] = {}
    overrides: list[str] = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        kind = rng.random()
        paths = [p for p, _ in leaves(cfg) if p]
        path = rng.choice(paths)
        if kind < 0.45:
            put(cfg, path, rng.choice(VALUES))
        elif kind < 0.7:
            marker = f"__RAW{len(raws)}__"
            raws[marker] = rng.choice(RAW)
            put(cfg, path, marker)
        elif kind < 0.8:  # type swap: the value of another field
            put(cfg, path, json.loads(json.dumps(dict(leaves(cfg))[rng.choice(paths)])))
        elif kind < 0.87:  # an unknown key somewhere
            sections = [p for p, v in leaves(cfg) if isinstance(v, dict)]
            node = dict(leaves(cfg))[rng.choice(sections)]
            node[rng.choice(["trian", "ü", "", "x" * 300, "steps ", "lr", "model"])] = 1
        elif kind < 0.93:  # a key removed
            node = dict(leaves(cfg))[path[:-1]] if path[:-1] else cfg
            if isinstance(node, dict):
                node.pop(path[-1], None)
        else:  # an override on the command line
            field, value = rng.choice(boundary_cases())
            overrides.append(f"{field}={value!r}")
    text = dump(cfg, raws)
    suffix = ".yaml"
    kind = rng.random()
    lines = text.splitlines(keepends=True)
    if kind < 0.05:  # duplicate a line: a duplicate key
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
        text = "".join(lines)
    elif kind < 0.08:  # deep nesting
        depth = rng.choice([33, 100, 900, 5000])
        text += "extra: " + "[" * depth + "]" * depth + "\n"
    elif kind < 0.10:
        text += "deep: " + "{a: " * 1000 + "1" + "}" * 1000 + "\n"
    elif kind < 0.12:  # an alias bomb
        text += "lol0: &l0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 9))
    elif kind < 0.14:  # a recursive alias
        text += "loop: &loop [*loop]\n"
    elif kind < 0.16:
        text = "\n".join(line for line in text.splitlines() if line.strip()) + "\n"
        text = text[:rng.randrange(len(text))]  # truncated
    elif kind < 0.2:  # JSON, sometimes with a duplicate key or NaN
        suffix = ".json"
        body = json.dumps(cfg)
        if rng.random() < 0.3:
            body = body.replace("{", '{"method": "grpo", ', 1)
        if rng.random() < 0.3:
            body = body.replace('"steps": 2', '"steps": NaN')
        if rng.random() < 0.2:
            body = '{"a": ' + "[" * 900 + "]" * 900 + "}"
        return suffix, body.encode(), overrides
    encoded = text.encode("utf-8")
    kind = rng.random()
    if kind < 0.04:
        encoded = text.encode("utf-16")
    elif kind < 0.07:
        encoded = text.encode("utf-16-le")
    elif kind < 0.10:
        pos = rng.randrange(len(encoded) + 1)
        encoded = encoded[:pos] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))) + encoded[pos:]
    elif kind < 0.12:
        encoded = bytes(rng.randrange(256) for _ in range(rng.randint(0, 400)))
    elif kind < 0.14:
        encoded = "\ufeff".encode() + encoded  # a UTF-8 BOM: fine
    return suffix, encoded, overrides


# --- an oracle independent of the validator: what a run needs of an accepted config ---------------

def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v):
    return isinstance(v, float) and math.isfinite(v)


def wrong_values(cfg: Config) -> list[str]:
    w = []

    def need(cond, what):
        if not cond:
            w.append(what)

    for key, path, value, integer in _numbers(cfg):
        need(is_int(value) if integer else is_num(value), f"{path}: {value!r} has the wrong type")
        if not RANGES[key].contains(value):
            w.append(f"{path}: {value!r} outside {RANGES[key]}")
    g, o, t, e, p, tiny = cfg.generation, cfg.optim, cfg.train, cfg.eval, cfg.ppo, cfg.model.tiny
    need(t.checkpoint_every >= 1, "train.checkpoint_every")
    need(t.keep_checkpoints >= 0, "train.keep_checkpoints")
    need(t.queries_per_step >= 1 and (t.steps is None or t.steps >= 1), "train counts")
    need(o.warmup_steps >= 0, "optim.warmup_steps")
    need(0 < o.lr <= 1, "optim.lr")
    need(len(o.betas) == 2 and all(0 <= b < 1 for b in o.betas), "optim.betas")
    need(o.max_grad_norm > 0 and o.weight_decay >= 0, "optim.max_grad_norm / weight_decay")
    need(g.batch_size >= 1 and g.temperature > 0 and 0 < g.top_p <= 1 and g.top_k >= 0, "generation")
    need(p.epochs >= 1 and p.micro_batch_size >= 1 and 0 <= p.clip_low <= 1 and p.clip_high >= 0, "ppo")
    need(p.mini_batch_queries is None or t.queries_per_step % p.mini_batch_queries == 0, "ppo.mini_batch_queries")
    need(tiny.hidden_size % tiny.heads == 0 and tiny.heads % tiny.kv_heads == 0, "model.tiny heads")
    need((tiny.hidden_size // tiny.heads) % 2 == 0, "model.tiny head size")
    need(cfg.run.threads is None or cfg.run.threads >= 1, "run.threads")
    need(0 <= cfg.run.seed <= 2**32 - 1, "run.seed")
    need(cfg.data.limit is None or cfg.data.limit >= 1, "data.limit")
    need(e.every >= 0 and (e.limit is None or e.limit >= 1) and 0 <= e.temperature, "eval")
    need(cfg.reward.alpha is None or cfg.reward.alpha >= 0, "reward.alpha")
    need(cfg.advantage.eps > 0, "advantage.eps")
    need(cfg.method in METHODS, "method")
    need(cfg.rollouts_per_query >= 1 and cfg.max_response_tokens >= 1, "counts")
    if cfg.uses_budget_prompts:
        need(len(cfg.tiers) >= 1 and cfg.rollouts_per_query % len(cfg.tiers) == 0, "tiers / rollouts")
        need(all(a < b for a, b in zip(cfg.tiers, cfg.tiers[1:])), "tiers ascending")
        need(all(1 <= b <= cfg.max_response_tokens for b in cfg.tiers), "tiers range")
    mp = cfg.model.path
    need(mp in ("tiny:llama", "tiny:qwen2", "testbed:base") or (Path(mp) / "config.json").is_file()
         or re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", mp, re.ASCII), f"model.path {mp!r}")
    need(Path(cfg.data.train).is_file() or cfg.data.train.startswith("testbed:"), "data.train")
    need(cfg.run.dir.strip() != "" and "\x00" not in cfg.run.dir, "run.dir")
    need(cfg.run.name is None or (cfg.run.name.strip() and "/" not in cfg.run.name
                                  and cfg.run.name not in (".", "..")), "run.name")
    need(re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", cfg.run.device), "run.device")
    need(all(re.fullmatch(r"natural|efficiency|tier:[1-9][0-9]*", m) for m in e.modes), "eval.modes")
    need("{budget}" in cfg.prompt.budget_sentence and "{problem}" in cfg.prompt.question_template, "prompt")
    if cfg.model.lora is not None:
        lo = cfg.model.lora
        need(lo.r >= 1 and lo.alpha >= 1 and 0 <= lo.dropout < 1 and lo.target_modules, "model.lora")
    json.dumps(dataclasses.asdict(cfg), allow_nan=False)  # the resolved config is writable
    return w


def names_a_field(problem: str) -> bool:
    field, sep, message = problem.partition(": ")
    if not (sep and field and message):
        return False
    if field == "config" or field.startswith("--set "):
        return True
    top = re.split(r"[.\[]", field, maxsplit=1)[0]
    # keys the file holds that are not config fields are named by their path in the file
    in_file = ("unknown key", "duplicate key", "nested deeper", "expands to more", "recursive alias")
    return top in TOP_LEVEL or any(s in message for s in in_file)


def test_the_range_table_covers_every_number():
    keys = {key for key, *_ in _numbers(load_config(None, ["model.lora={r: 4}", "data.limit=3", "run.threads=1",
                                                           "train.steps=2", "eval.limit=2", "eval.max_tokens=8",
                                                           "ppo.mini_batch_queries=1", "reward.alpha=0.1"],
                                                    check_files=False))}
    assert keys == set(RANGES)
    # the cases, against the table itself
    for field, bad in [("train.checkpoint_every", 0), ("optim.warmup_steps", -1), ("generation.batch_size", 0),
                       ("generation.temperature", 0), ("run.threads", -1), ("run.seed", 2**64), ("run.seed", 2**32),
                       ("optim.max_grad_norm", -0.1), ("ppo.epochs", 0), ("data.limit", -1), ("data.limit", 0),
                       ("eval.every", -1), ("train.keep_checkpoints", -1), ("optim.betas[]", 2),
                       ("generation.top_p", 1.5), ("model.lora.dropout", 1.0)]:
        assert not RANGES[field].contains(bad), field


def test_fuzzed_configs_end_in_a_named_refusal_or_a_usable_config(tmp_path, capsys):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"problem": f"{i}+1", "answer": str(i + 1)}) + "\n" for i in range(5)))
    base = base_config(data)
    load_config(_write(tmp_path / "base.yaml", dump(base, {}).encode()))  # the base itself is valid
    rng = random.Random(SEED)
    refused = accepted = 0
    tracebacks, unnamed, wrong, long_messages = [], [], [], []
    for case in range(CASES):
        suffix, body, overrides = mutate(rng, base)
        path = _write(tmp_path / f"case{suffix}", body)
        try:
            cfg = load_config(path, overrides)
        except (ConfigError, DataError) as exc:
            refused += 1
            problems = getattr(exc, "problems", [str(exc)])
            assert problems, case
            unnamed += [(case, p) for p in problems if not names_a_field(p)]
            long_messages += [(case, p[:120]) for p in problems if len(p) > 400]
        except BaseException as exc:  # noqa: BLE001 - the point: nothing else may escape
            tracebacks.append((case, f"{type(exc).__name__}: {str(exc)[:200]}", body[:200], overrides))
        else:
            accepted += 1
            try:
                problems = wrong_values(cfg)
            except Exception as exc:  # noqa: BLE001
                problems = [f"{type(exc).__name__}: {exc}"]
            wrong += [(case, p) for p in problems]
    with capsys.disabled():
        print(f"\nconfig fuzz: {CASES} fuzzed, {refused} refused, {accepted} accepted, "
              f"{len(tracebacks)} tracebacks, {len(unnamed)} unnamed refusals, {len(wrong)} accepted-but-wrong")
    assert tracebacks == []
    assert unnamed == [], unnamed[:10]
    assert long_messages == []
    assert wrong == []
    assert refused > CASES // 4 and accepted > CASES // 50  # the fuzzer reaches both outcomes


def _write(path: Path, body: bytes) -> Path:
    path.write_bytes(body)
    return path


@pytest.mark.parametrize("body, needle", [
    (b"method: hbpo\n".decode().encode("utf-16"), "UTF-16"),
    (bytes(range(256)), "binary"),
    (b"method: \xff\xfe hbpo\n", "not UTF-8"),
    (("a: " + "[" * 900 + "]" * 900 + "\n").encode(), "nested deeper than 32"),
    (b"lol0: &l0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 9)).encode(), "expands to more than"),
    (b"train:\n  steps: 2\n  steps: 3\n", "train.steps: duplicate key on line 3 (first on line 2)"),
    (b"reward:\n  alpha: 1.0e+400\n", "reward.alpha: must be a finite number, got inf"),
    (b"optim:\n  lr: .nan\n", "optim.lr: must be a finite number"),
    (b"run:\n  seed: " + b"9" * 5000 + b"\n", "config: cannot parse"),
    (b"data:\n  limit: 0\n", "data.limit: must be at least 1, got 0"),
    (b"model:\n  path: ''\n", "model.path: must not be empty"),
    (b"model:\n  tiny: {heads: 3}\n", "model.tiny.heads: 3 must divide model.tiny.hidden_size 64"),
    (b"run:\n  name: '" + b"x" * 5000 + b"'\n", "run.name: must be a folder name"),
])
def test_validate_command_exits_2_with_the_problem_and_no_traceback(tmp_path, body, needle):
    path = _write(tmp_path / "bad.yaml", body)
    proc = subprocess.run(hbpo_cmd("validate", "--config", str(path)), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr and "x" * 100 not in proc.stderr


def test_duplicate_json_key_and_deep_json(tmp_path):
    with pytest.raises(ConfigError, match=r"train: duplicate key in the object starting on line 1"):
        load_config(_write(tmp_path / "a.json", b'{"method": "hbpo",\n "train": {}, "train": {"steps": 2}}'))
    with pytest.raises(ConfigError, match="nested deeper than 32"):
        load_config(_write(tmp_path / "b.json", ('{"a": ' + "[" * 5000 + "]" * 5000 + "}").encode()))


def test_a_folder_that_is_not_a_model_is_refused(tmp_path, write_config):
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "readme.txt").write_text("hello")
    with pytest.raises(ConfigError, match=r"model.path: .*not-a-model'? is not a model folder \(no config.json\)"):
        load_config(write_config(tiny_config(model__path=str(folder))))
    (folder / "config.json").write_text("{}")
    load_config(write_config(tiny_config(model__path=str(folder))))


def test_aliases_within_the_bound_still_work(tmp_path):
    text = b"tiers: &t [8, 16]\nmax_response_tokens: 24\nrollouts_per_query: 4\neval:\n  modes: [natural]\n" \
           b"run: {device: cpu}\n"
    cfg = load_config(_write(tmp_path / "ok.yaml", text), check_files=False)
    assert cfg.tiers == [8, 16]
