"""End-to-end training runs on tiny models: run folder, events, checkpoints, resume, stop."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
import torch
from safetensors.torch import load_file

from conftest import hbpo_cmd, tiny_config
from hbpo.checkpoint import latest_checkpoint
from hbpo.config import load_config
from hbpo.events import RolloutKey, read_events, schema
from hbpo.train import new_run_dir, train

VALIDATOR = jsonschema.Draft202012Validator(schema())


def run(write_config, cfg: dict, name: str) -> Path:
    config = load_config(write_config(cfg, f"{name}.yaml"), [f"run.name={name}"])
    run_dir = new_run_dir(config)
    assert train(config, run_dir) == "finished"
    return run_dir


def events_of(run_dir: Path) -> list[dict]:
    events, errors = read_events(run_dir / "events.jsonl")
    assert errors == []
    return events


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(latest_checkpoint(run_dir) / "model" / "model.safetensors")


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_two_step_run_writes_a_valid_run_folder(write_config, arch):
    run_dir = run(write_config, tiny_config(model__path=f"tiny:{arch}", eval={
        "every": 2, "data": ["testbed:val"], "modes": ["natural", "efficiency", "tier:8"], "limit": 3}), arch)
    events = events_of(run_dir)
    for event in events:
        VALIDATOR.validate(event)
    types = [e["type"] for e in events]
    assert types[0] == "run_start" and types[-1] == "run_end"
    assert types.count("step") == 2 and types.count("eval") == 3
    rollouts = [e for e in events if e["type"] == "rollout"]
    assert len(rollouts) == 2 * 2 * 4  # steps x queries x n
    # n/k rollouts per tier per query
    step1 = [r for r in rollouts if r["step"] == 1 and r["query_index"] == 0]
    assert sorted(r["tier"] for r in step1) == [8, 8, 16, 16]
    # samples count within (query, tier): only the whole key names a rollout
    assert sorted((r["tier"], r["sample"]) for r in step1) == [(8, 0), (8, 1), (16, 0), (16, 1)]
    assert len({RolloutKey.of(r) for r in rollouts}) == len(rollouts)
    for r in rollouts:
        assert r["prompt"].endswith(f"within {r['tier']} tokens.\n")
        assert 1 <= r["n_gen"] <= 24
        assert r["advantage"]["total"] == pytest.approx(r["advantage"]["intra"] + r["advantage"]["inter"])
    last_step = [e for e in events if e["type"] == "step"][-1]
    metrics, per_tier = last_step["metrics"], {t["tier"]: t["metrics"] for t in last_step["per_tier"]}
    for key in ("loss", "clip_frac", "entropy", "grad_norm", "lr", "tokens_per_s"):
        assert key in metrics
    assert [t["tier"] for t in last_step["per_tier"]] == [8, 16]  # typed, budgets ascending
    for tier, key in ((8, "mean_length"), (16, "length_std"), (8, "accuracy"), (16, "reward"), (8, "advantage/intra")):
        assert key in per_tier[tier]
    step2 = [r for r in rollouts if r["step"] == 2 and r["tier"] == 8]
    assert per_tier[8]["mean_length"] == pytest.approx(sum(r["n_gen"] for r in step2) / len(step2))
    assert not [k for k in metrics if k.startswith("budget/")], "v2: per-tier metrics only in per_tier"
    start = events[0]
    assert start["v"] == 2 and start["reward"] == {"name": "hbpo", "variant": "paper", "alpha": pytest.approx(1 / 24),
                                                   "beta": 4.0, "max_response_tokens": 24}
    assert start["advantage"] == {"name": "hbpo", "eps": 1e-6}
    from hbpo.testbed.experiment import spread_over_training  # the testbed experiment's collapse check
    spread = spread_over_training(run_dir)
    assert sorted(spread) == ["16", "8"] and spread["8"]["last"] == per_tier[8]["length_std"]
    end = [e for e in events if e["type"] == "run_end"][0]
    assert end["status"] == "finished" and end["checkpoint"] == "checkpoints/step-000002"
    assert (run_dir / end["checkpoint"] / "trainer_state.pt").is_file()
    assert (run_dir / "config.yaml").is_file()
    # keep_checkpoints: 2 of the checkpoints at steps 1 and 2 remain
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("step-*")) == ["step-000001", "step-000002"]


def test_training_changes_the_weights(write_config):
    a = run(write_config, tiny_config(train__steps=1), "one")
    untrained = load_config(write_config(tiny_config(), "x.yaml"))
    from hbpo.model import load_policy

    model, _ = load_policy(untrained.model, torch.device("cpu"), torch.float32, seed=7)
    trained = weights(a)
    diffs = [not torch.equal(trained[k], v) for k, v in model.state_dict().items() if k in trained]
    assert any(diffs)


def test_resume_equals_an_uninterrupted_run(write_config):
    straight = run(write_config, tiny_config(train__steps=4, train__checkpoint_every=10), "straight")
    first = run(write_config, tiny_config(train__steps=2, train__checkpoint_every=10), "halves")
    config = load_config(first / "config.yaml", ["train.steps=4"])
    assert train(config, first, resume=True) == "finished"
    a, b = weights(straight), weights(first)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # the same rollouts were drawn after the resume point
    texts = lambda d: [(e["step"], e["query_id"], e["text"]) for e in events_of(d) if e["type"] == "rollout"]
    assert texts(straight) == texts(first)
    starts = [e for e in events_of(first) if e["type"] == "run_start"]
    assert [s["resumed_from_step"] for s in starts] == [None, 2]


def test_sigterm_stops_cleanly_with_a_checkpoint(write_config, tmp_path):
    cfg = tiny_config(train__steps=500, train__checkpoint_every=1000, max_response_tokens=24)
    path = write_config(cfg)
    proc = subprocess.Popen(hbpo_cmd("train", "--config", str(path), "--set", "run.name=stopme", "--events-stdout"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stdout:  # events stream on stdout; wait for the second step
        event = json.loads(line)
        VALIDATOR.validate(event)
        seen.append(event)
        if event["type"] == "step" and event["step"] == 2:
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.stdout.read()
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    seen += [json.loads(line) for line in rest.splitlines()]
    end = seen[-1]
    assert end["type"] == "run_end" and end["status"] == "stopped" and "SIGTERM" in end["reason"]
    run_dir = tmp_path / "runs" / "stopme"
    assert end["checkpoint"] == f"checkpoints/step-{end['step']:06d}" and end["step"] >= 2
    assert (run_dir / end["checkpoint"] / "trainer_state.pt").is_file()
    assert events_of(run_dir)[-1] == end  # file and stdout agree
    # and it resumes from there
    resumed = subprocess.run(hbpo_cmd("resume", str(run_dir), "--set", f"train.steps={end['step'] + 1}"),
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    last = [e for e in events_of(run_dir) if e["type"] == "run_end"][-1]
    assert last["status"] == "finished" and last["step"] == end["step"] + 1


def test_a_supervisor_that_goes_away_does_not_kill_the_run(write_config, tmp_path):
    """The editor that started a run reloads: its end of stdout and stderr closes (EPIPE on the next
    write). The trainer keeps training and finishes; events.jsonl has every event."""
    path = write_config(tiny_config(train__steps=4, max_response_tokens=16))
    proc = subprocess.Popen(hbpo_cmd("train", "--config", str(path), "--set", "run.name=orphan", "--events-stdout"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = json.loads(proc.stdout.readline())
    assert first["type"] == "run_start"
    proc.stdout.close()
    proc.stderr.close()
    assert proc.wait(timeout=300) == 0
    events = events_of(tmp_path / "runs" / "orphan")
    assert [e["step"] for e in events if e["type"] == "step"] == [1, 2, 3, 4]
    assert events[-1]["type"] == "run_end" and events[-1]["status"] == "finished"


def test_a_torn_last_line_does_not_break_a_resumed_run(write_config):
    run_dir = run(write_config, tiny_config(train__steps=1), "torn")
    with open(run_dir / "events.jsonl", "a") as f:
        f.write('{"v": 1, "type": "step", "ti')  # a crash mid-write
    config = load_config(run_dir / "config.yaml", ["train.steps=2"])
    assert train(config, run_dir, resume=True) == "finished"
    events, errors = read_events(run_dir / "events.jsonl")
    assert len(errors) == 1  # the torn line, kept and skipped; everything after it parses
    assert [e for e in events if e["type"] == "run_end"][-1]["step"] == 2


def test_eval_command_on_a_checkpoint(write_config):
    run_dir = run(write_config, tiny_config(train__steps=1), "evalme")
    ckpt = latest_checkpoint(run_dir)
    proc = subprocess.run(hbpo_cmd("eval", "--checkpoint", str(ckpt), "--data", "testbed:test", "--mode", "tier:16",
                                   "--limit", "4", "--run", str(run_dir)), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["mode"] == "tier:16" and result["n"] == 4 and 0 <= result["accuracy"] <= 1
    assert set(result["by_difficulty"]) <= {"easy", "medium", "hard"}
    last = events_of(run_dir)[-1]
    VALIDATOR.validate(last)
    assert last["type"] == "eval" and last["step"] == 1


def test_grpo_baseline_runs_in_natural_mode(write_config):
    run_dir = run(write_config, tiny_config(method="grpo", rollouts_per_query=3, train__steps=1), "grpo")
    rollouts = [e for e in events_of(run_dir) if e["type"] == "rollout"]
    assert {r["tier"] for r in rollouts} == {None}
    assert all(r["advantage"]["intra"] == 0 for r in rollouts)
    step = [e for e in events_of(run_dir) if e["type"] == "step"][0]
    assert [t["tier"] for t in step["per_tier"]] == [None] and "mean_length" in step["per_tier"][0]["metrics"]


def test_lora_run_saves_an_adapter_and_resumes(write_config):
    cfg = tiny_config(train__steps=1, model__lora={"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]})
    run_dir = run(write_config, cfg, "lora")
    ckpt = latest_checkpoint(run_dir)
    assert (ckpt / "model" / "adapter_config.json").is_file()
    start = [e for e in events_of(run_dir) if e["type"] == "run_start"][0]
    assert 0 < start["trainable_parameters"] < start["parameters"]
    config = load_config(run_dir / "config.yaml", ["train.steps=2"])
    assert train(config, run_dir, resume=True) == "finished"
    assert latest_checkpoint(run_dir).name == "step-000002"


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_a_checkpoint_reloads_the_tokenizer_it_was_trained_with(write_config, arch):
    """Eval and resume load the tokenizer from the checkpoint: it must encode exactly as the one
    the run trained with (for qwen2, AutoTokenizer would pick Qwen2Tokenizer and its own digits
    split and added tokens)."""
    import torch

    from hbpo.checkpoint import latest_checkpoint
    from hbpo.model import load_policy
    from hbpo.tiny import build_tokenizer

    cfg = tiny_config(train__steps=1, model__path=f"tiny:{arch}")
    run_dir = run(write_config, cfg, f"tok-{arch}")
    config = load_config(run_dir / "config.yaml")
    _, reloaded = load_policy(config.model, torch.device("cpu"), torch.float32, seed=0,
                              weights_from=latest_checkpoint(run_dir) / "model")
    original = build_tokenizer(config.model.tiny.vocab_size)
    text = "<think>\na = 12 + 3 = 15\n</think>\nThe answer is \\boxed{15}."
    assert reloaded(text)["input_ids"] == original(text)["input_ids"]
    assert len(reloaded) == len(original) and reloaded.eos_token_id == original.eos_token_id


def test_rollouts_record_where_their_tokens_fall_in_the_text(write_config):
    """token_marks: [tokens, chars] at every 32 tokens, at each tier and at n_gen, as the tokenizer
    decodes the prefix (checked against a fresh decode of the same tokens)."""
    from hbpo.rollout import MARK_EVERY, token_marks
    from hbpo.tiny import build_tokenizer

    tok = build_tokenizer(320)
    ids = tok("a = 12 + 3 = 15\nWait, let me check a: 12 + 3 = 15. Yes.\n" * 4, add_special_tokens=False)["input_ids"]
    ids = ids + [tok.eos_token_id]
    marks = token_marks(tok, ids, [8, 40, 64, 10_000])
    expected_points = sorted({*range(MARK_EVERY, len(ids), MARK_EVERY), 8, 40, 64, len(ids)})
    assert [t for t, _ in marks] == expected_points
    for t, chars in marks:
        assert chars == len(tok.decode(ids[:t], skip_special_tokens=True))
    assert marks[-1] == [len(ids), len(tok.decode(ids, skip_special_tokens=True))]
    # Multi-byte characters, some cut by a mark: still exactly what decoding the prefix gives.
    ids = tok("é = 12 + 3 漢字 😀 ✓ Wait, let me check: ü + ß = 😀😀 ok\n" * 6, add_special_tokens=False)["input_ids"]
    marks = token_marks(tok, ids, range(1, len(ids)))
    assert [t for t, _ in marks] == list(range(1, len(ids) + 1))
    for t, chars in marks:
        assert chars == len(tok.decode(ids[:t], skip_special_tokens=True)), t

    run_dir = run(write_config, tiny_config(train__steps=1, tiers=[8, 16], max_response_tokens=40), "marks")
    rollouts = [e for e in events_of(run_dir) if e["type"] == "rollout"]
    assert rollouts
    for r in rollouts:
        points = [t for t, _ in r["token_marks"]]
        assert points == sorted(set(points)) and points[-1] == r["n_gen"]
        assert {t for t in (8, 16, 32) if t < r["n_gen"]} <= set(points)
        assert r["token_marks"][-1][1] == len(r["text"])
        assert all(0 <= c <= len(r["text"]) for _, c in r["token_marks"])
