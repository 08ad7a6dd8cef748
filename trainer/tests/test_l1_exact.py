"""The L1 baseline as L1 defines it (Aggarwal & Welleck 2025, LCPO-Exact): a target length drawn per
query from [reward.target_min, reward.target_max], "Think for {n} tokens." after the question, and
the reward 1[correct] - alpha * |n_target - n| (alpha 0.0003), wrong answers included."""

from __future__ import annotations


import jsonschema
import pytest
import torch
from safetensors.torch import load_file

import hbpo.evaluate
from conftest import tiny_config
from hbpo.checkpoint import latest_checkpoint
from hbpo.config import L1_ALPHA, PromptConfig, load_config, resolved
from hbpo.events import read_events, schema
from hbpo.prompts import build_prompt
from hbpo.reward import RewardParams, compute_reward
from hbpo.tiny import build_tokenizer
from hbpo.train import new_run_dir, train

L1 = dict(method="l1-exact", reward__target_min=4, reward__target_max=20, train__queries_per_step=4,
          train__checkpoint_every=10)


def test_a_wrong_answer_keeps_the_length_penalty():
    p = RewardParams(L_max=4096, alpha=L1_ALPHA, beta=4.0)
    wrong = compute_reward("l1-exact", 1500, 1000, False, False, p)
    assert wrong.reward == pytest.approx(-0.0003 * 500) and wrong.case == "wrong"
    right = compute_reward("l1-exact", 1500, 1000, True, False, p)
    assert right.reward == pytest.approx(1 - 0.0003 * 500) and right.case == "over"
    assert compute_reward("l1-exact", 1000, 1000, False, False, p).reward == 0.0
    truncated = compute_reward("l1-exact", 4096, 1000, True, True, p)
    assert truncated.reward == pytest.approx(-0.0003 * 3096) and truncated.case == "truncated"


def test_l1_alpha_is_the_default_of_the_l1_reward_only(write_config):
    l1 = load_config(write_config(tiny_config(**L1)))
    assert l1.alpha == L1_ALPHA == 0.0003 and resolved(l1).reward.alpha == 0.0003
    assert load_config(write_config(tiny_config(**L1, reward__alpha=0.01))).alpha == 0.01
    assert load_config(write_config(tiny_config())).alpha == 1 / 24  # hbpo: 1 / L_max
    assert l1.rollout_tiers == [None] and not l1.uses_budget_prompts and l1.uses_length_targets
    # L1's own range, for L1's 4096-token context
    assert load_config(write_config(tiny_config(method="l1-exact", max_response_tokens=4096))).reward.target_min == 100


def test_the_target_is_stated_after_the_question_as_l1_does():
    tok = build_tokenizer(320)
    cfg = PromptConfig()
    text = build_prompt(tok, "What is 2 + 3?", None, cfg, target=1234)
    user = "What is 2 + 3?\nPlease reason step by step, and put your final answer within \\boxed{}. Think for 1234 tokens."
    assert f"<|user|>\n{user}\n<|assistant|>\n<think>\n" in text
    assert text.endswith("<think>\n")  # no budget sentence after <think>
    assert "I will answer" not in text


def run_l1(write_config, name: str, **overrides):
    cfg = load_config(write_config(tiny_config(**{**L1, **overrides}), f"{name}.yaml"), [f"run.name={name}"])
    run_dir = new_run_dir(cfg)
    assert train(cfg, run_dir) == "finished"
    events, errors = read_events(run_dir / "events.jsonl")
    assert errors == []
    return run_dir, events


def test_an_l1_run_draws_a_target_per_query_and_records_it_as_the_tier(write_config):
    validator = jsonschema.Draft202012Validator(schema())
    run_dir, events = run_l1(write_config, "l1", train__steps=2)
    for event in events:
        validator.validate(event)
    start = next(e for e in events if e["type"] == "run_start")
    assert start["tiers"] == [] and start["config"]["reward"]["alpha"] == 0.0003
    rollouts = [e for e in events if e["type"] == "rollout"]
    assert len(rollouts) == 2 * 4 * 4  # steps x queries x n
    targets = {}
    for r in rollouts:
        t = r["tier"]
        assert 4 <= t <= 20
        targets.setdefault((r["step"], r["query_index"]), set()).add(t)
        assert r["prompt"].count(f"Think for {t} tokens.") == 1
        assert r["prompt"].endswith("<think>\n")
        correct = 1.0 if r["correct"] and not r["truncated"] else 0.0
        assert r["reward"]["reward"] == pytest.approx(correct - 0.0003 * abs(t - r["n_gen"]))
        assert r["reward"]["penalty"] == pytest.approx(0.0003 * abs(t - r["n_gen"]))
        if t < r["n_gen"]:
            assert t in [m[0] for m in r["token_marks"]]  # the trace shows where the target falls
    assert all(len(ts) == 1 for ts in targets.values())  # one target per query, shared by its rollouts
    assert len({next(iter(ts)) for ts in targets.values()}) > 1  # drawn, not fixed
    metrics = [e for e in events if e["type"] == "step"][-1]["metrics"]
    assert not [k for k in metrics if k.startswith("budget/")]
    assert [e for e in events if e["type"] == "step"][-1]["per_tier"] == []  # one entry per target would be one per query
    step2 = [r for r in rollouts if r["step"] == 2]
    assert metrics["target/mean"] == pytest.approx(sum(r["tier"] for r in step2) / len(step2))
    assert metrics["target/abs_error"] == pytest.approx(sum(abs(r["n_gen"] - r["tier"]) for r in step2) / len(step2))
    assert 0 <= metrics["target/over"] <= 1


def test_a_resumed_l1_run_draws_the_same_targets(write_config):
    straight, straight_events = run_l1(write_config, "straight", train__steps=3)
    halves, _ = run_l1(write_config, "halves", train__steps=1)
    cfg = load_config(halves / "config.yaml", ["train.steps=3"])
    assert train(cfg, halves, resume=True) == "finished"
    halves_events, _ = read_events(halves / "events.jsonl")
    drawn = lambda events: [(e["step"], e["query_index"], e["tier"], e["prompt"], e["text"])
                            for e in events if e["type"] == "rollout"]
    assert drawn(straight_events) == drawn(halves_events)
    a = load_file(latest_checkpoint(straight) / "model" / "model.safetensors")
    b = load_file(latest_checkpoint(halves) / "model" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_l1_runs_tier_evaluation_asks_for_the_target(write_config):
    cfg = load_config(write_config(tiny_config(**L1)))
    seen = []

    tok = build_tokenizer(320)

    class Recorder:  # an engine that records its prompts (engines.py)
        def generate(self, prompts, **kw):
            seen.extend(prompts)
            return [([], [tok.eos_token_id]) for _ in prompts], type("S", (), {"tokens": 1, "seconds": 1.0})()

    from hbpo.sources import load_source

    problems = load_source("testbed:val", limit=2)
    hbpo.evaluate.evaluate(Recorder(), tok, problems, 12, cfg, dataset="val")
    assert all(p.endswith("<think>\n") and "Think for 12 tokens." in p for p in seen) and len(seen) == 2
    seen.clear()
    hbpo.evaluate.evaluate(Recorder(), tok, problems, "natural", cfg, dataset="val")
    assert not any("Think for" in p for p in seen)
