"""generation.engine: vllm, proven on CPU with vLLM's CPU build (the same engine code as on a GPU).

These run in .venv-vllm (`npm test` sets it up and runs this file there, with HBPO_REQUIRE_VLLM=1 so
a missing vLLM fails instead of skipping). The model is the testbed's in a shape vLLM's CPU attention
takes (testbed/build.py ENGINE_RECIPE: head size 64), trained briefly and cached like the base model.
"""

import importlib.util
import json
import os
import subprocess
import time

import jsonschema
import pytest
import torch

# find_spec, not an import: vLLM is first imported by hbpo.engines, as in the trainer (its log stream).
if os.environ.get("HBPO_REQUIRE_VLLM") != "1" and importlib.util.find_spec("vllm") is None:
    pytest.skip("vLLM is not installed in this Python: `npm test` runs this file in .venv-vllm "
                "(npm run setup -- --vllm)", allow_module_level=True)

from conftest import hbpo_cmd, tiny_config  # noqa: E402
from hbpo.advantage import AdvantageParams, compute_advantages  # noqa: E402
from hbpo.config import Config, load_config, resolved  # noqa: E402
from hbpo.engines import HFEngine, _vllm_weights, make_engine  # noqa: E402
from hbpo.events import read_events, schema  # noqa: E402
from hbpo.grading import grade  # noqa: E402
from hbpo.model import load_tokenizer  # noqa: E402
from hbpo.prompts import build_prompt  # noqa: E402
from hbpo.reward import RewardParams, compute_reward  # noqa: E402
from hbpo.sources import load_source  # noqa: E402
from hbpo.testbed.build import ENGINE_RECIPE, ensure_testbed_model  # noqa: E402
from hbpo.train import new_run_dir, train  # noqa: E402

TIERS = (32, 64, 128, 160)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def folder():
    return ensure_testbed_model(recipe=ENGINE_RECIPE)


@pytest.fixture(scope="module")
def policy(folder):
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(2)
    tokenizer = load_tokenizer(folder)
    tokenizer.padding_side = "left"
    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval(), tokenizer


@pytest.fixture
def engine(policy):
    # One engine per test: closing an in-process vLLM engine tears down vLLM's process-wide state,
    # which an engine made before it needs (a trainer process holds one engine).
    model, tokenizer = policy
    engine = make_engine(_cfg(), model, tokenizer, CPU, torch.float32)
    yield engine
    engine.close()


def _cfg(**generation) -> Config:
    cfg = Config()
    cfg.generation.engine = "vllm"
    for k, v in generation.items():
        setattr(cfg.generation, k, v)
    return cfg


def mixed_prompts(tokenizer, queries: int = 6) -> list[str]:
    """Every query under every tier, interleaved: one batch of four prompt lengths."""
    cfg = Config()
    return [build_prompt(tokenizer, p.problem, t, cfg.prompt)
            for p in load_source("testbed:val", limit=queries) for t in TIERS]


def greedy(engine, prompts, tokens: int = 64):
    results, stats = engine.generate(prompts, max_new_tokens=tokens, gen=Config().generation, greedy=True)
    assert len(results) == len(prompts) and stats.tokens == sum(len(r) for _, r in results)
    return results


def test_greedy_decoding_matches_transformers_on_a_batch_of_all_four_tiers(policy, engine):
    model, tokenizer = policy
    prompts = mixed_prompts(tokenizer)
    hf, vllm = greedy(HFEngine.of(model, tokenizer), prompts), greedy(engine, prompts)
    assert [p for p, _ in vllm] == [p for p, _ in hf]  # the same prompt ids (no special tokens added)
    assert [r for _, r in vllm] == [r for _, r in hf]
    assert len({tuple(r) for _, r in hf}) > len(prompts) // 4  # not a degenerate model


def test_after_an_optimizer_step_vllm_generates_from_the_new_weights(policy):
    import copy

    model, tokenizer = policy
    model = copy.deepcopy(model)
    engine = make_engine(_cfg(), model, tokenizer, CPU, torch.float32)
    try:
        prompts = mixed_prompts(tokenizer, queries=3)
        before = greedy(engine, prompts)
        # One AdamW step on the LM loss of text the model would not write: its greedy outputs move.
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
        batch = tokenizer(["a = 9 * 9 = 81\nb = a + 7 = 88\n\\boxed{88}"] * 2, return_tensors="pt")
        model.train()
        model(**batch, labels=batch["input_ids"]).loss.backward()
        optimizer.step()
        model.eval()
        engine.policy_changed()
        after, hf_after = greedy(engine, prompts), greedy(HFEngine.of(model, tokenizer), prompts)
        assert [r for _, r in after] == [r for _, r in hf_after]
        assert [r for _, r in after] != [r for _, r in before]
    finally:
        engine.close()


def test_lora_adapters_are_merged_into_the_engine(policy):
    import copy

    from peft import LoraConfig, get_peft_model

    model, tokenizer = policy
    lora = get_peft_model(copy.deepcopy(model), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():  # a non-zero B: the adapters change the outputs
        for name, p in lora.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.2, generator=torch.Generator().manual_seed(len(name)))
    lora.eval()
    engine = make_engine(_cfg(), lora, tokenizer, CPU, torch.float32)
    try:
        prompts = mixed_prompts(tokenizer, queries=2)
        merged = greedy(engine, prompts)
        assert [r for _, r in merged] == [r for _, r in greedy(HFEngine.of(lora, tokenizer), prompts)]
        assert [r for _, r in merged] != [r for _, r in greedy(HFEngine.of(model, tokenizer), prompts)]
        assert not any(".base_layer." in n or "lora_" in n for n, _ in _vllm_weights(lora))
    finally:
        engine.close()


def test_sampling_is_seeded_per_prompt_and_follows_the_config(policy, engine):
    model, tokenizer = policy
    prompts = mixed_prompts(tokenizer, queries=2)
    gen = Config().generation

    def sample(ps, positions, seed=11):
        return engine.generate(ps, max_new_tokens=160, gen=gen, seed=seed, positions=positions)[0]

    whole = sample(prompts, list(range(len(prompts))))
    # A response that ends holds its EOS last, as the hf path's do (n_gen counts it); the others stop at the limit.
    eos = tokenizer.eos_token_id
    assert any(r[-1] == eos and len(r) < 160 for _, r in whole)
    assert all(r[-1] == eos or len(r) == 160 for _, r in whole) and all(eos not in r[:-1] for _, r in whole)
    # The second half alone, at its places in the step, draws what it drew among all of them.
    half = len(prompts) // 2
    assert sample(prompts[half:], list(range(half, len(prompts)))) == whole[half:]
    assert sample(prompts, list(range(len(prompts))), seed=12) != whole
    # top_k 1 is greedy whatever the temperature.
    top1 = engine.generate(prompts, max_new_tokens=48, gen=type(gen)(temperature=1.0, top_k=1), seed=3)[0]
    assert [r for _, r in top1] == [r for _, r in greedy(engine, prompts, 48)]


def test_a_stop_aborts_generation_within_a_second(policy, engine):
    model, tokenizer = policy
    prompts = mixed_prompts(tokenizer, queries=16) * 4  # 256 sequences x 448 tokens: tens of seconds
    asked = time.monotonic() + 1.0
    results, _ = engine.generate(prompts, max_new_tokens=448, gen=Config().generation, seed=1,
                                 should_stop=lambda: time.monotonic() >= asked)
    late = time.monotonic() - asked
    assert late < 1.0, f"generation went on {late:.2f} s after the stop"
    assert len(results) < len(prompts)
    # The engine is usable after an abort.
    assert len(greedy(engine, prompts[:4], 8)) == 4


def test_a_five_step_hbpo_run_on_vllm_writes_events_that_recompute(folder, write_config, capsys):
    cfg = tiny_config(tiers=list(TIERS), rollouts_per_query=8, max_response_tokens=160,
                      model={"path": str(folder)}, generation={"engine": "vllm"},
                      run={"seed": 3, "device": "cpu", "threads": 2},
                      train={"queries_per_step": 4, "steps": 5, "checkpoint_every": 100},
                      ppo={"micro_batch_size": 16}, optim={"lr": 1e-4},
                      eval={"every": 5, "data": ["testbed:val"], "modes": ["natural", "tier:32"], "limit": 6})
    config = load_config(write_config(cfg, "vllm.yaml"), ["run.name=vllm"])
    run_dir = new_run_dir(config)
    assert train(config, run_dir) == "finished"
    events, errors = read_events(run_dir / "events.jsonl")
    assert errors == []
    validator = jsonschema.Draft202012Validator(schema())
    for e in events:
        validator.validate(e)
    c = resolved(config)
    rp = RewardParams(L_max=c.max_response_tokens, alpha=c.alpha, beta=c.reward.beta, variant=c.reward.variant)
    ap = AdvantageParams(L_max=c.max_response_tokens, beta=c.reward.beta, eps=c.advantage.eps)
    rollouts = [e for e in events if e["type"] == "rollout"]
    assert len(rollouts) == 5 * 4 * 8
    groups: dict[tuple[int, int], list[dict]] = {}
    for r in rollouts:
        assert r["prompt"].endswith(f"within {r['tier']} tokens.\n")
        assert grade(r["text"], r["ground_truth"]).correct == r["correct"]
        assert compute_reward("hbpo", r["n_gen"], r["tier"], r["correct"], r["truncated"], rp).to_dict() == r["reward"]
        assert r["token_marks"][-1] == [r["n_gen"], len(r["text"])]
        groups.setdefault((r["step"], r["query_index"]), []).append(r)
    for members in groups.values():
        adv = compute_advantages("hbpo", [m["reward"]["reward"] for m in members], [m["tier"] for m in members], ap)
        for k, m in enumerate(members):
            assert m["advantage"] == pytest.approx({"intra": adv.intra[k], "inter": adv.inter[k], "total": adv.total[k]})
    # The engine model rarely answers right (ENGINE_RECIPE), so the intra-tier advantages (mean reward
    # minus the tier's f2) carry the check: they differ by tier and are not all zero.
    assert len({round(r["advantage"]["intra"], 9) for r in rollouts}) >= len(TIERS)
    assert {e["mode"] for e in events if e["type"] == "eval"} == {"natural", "tier:32"}
    assert [e["status"] for e in events if e["type"] == "run_end"] == ["finished"]

    # `hbpo eval` on the checkpoint uses the engine its config names: greedy, vllm and hf agree.
    from hbpo.checkpoint import latest_checkpoint
    from hbpo.cli import main

    def evaluate(*overrides: str) -> dict:
        assert main(["eval", "--checkpoint", str(latest_checkpoint(run_dir)), "--data", "testbed:val",
                     "--limit", "6", "--mode", "tier:64", "--set", "eval.temperature=0", *overrides]) == 0
        result = json.loads(capsys.readouterr().out)
        result.pop("tokens_per_s")
        return result

    capsys.readouterr()
    assert evaluate() == evaluate("--set", "generation.engine=hf")


def test_two_processes_each_generate_their_queries_on_an_engine_of_their_own(folder, write_config):
    """`--nproc 2` with vllm: each rank builds an engine in external-launcher mode and generates its
    share of every step. The rollouts (prompts, texts, rewards, advantages) and the evals equal those
    of one process, step after step, under ddp and under fsdp (whose shards are gathered whole for
    the engine): each rank's engine has the policy's weights after every update (a rank whose engine
    kept the old weights samples other texts from step 2 on)."""
    cfg = tiny_config(tiers=list(TIERS), rollouts_per_query=8, max_response_tokens=160,
                      model={"path": str(folder)}, generation={"engine": "vllm"},
                      run={"seed": 3, "device": "cpu", "threads": 1},
                      train={"queries_per_step": 4, "steps": 3, "checkpoint_every": 100},
                      ppo={"micro_batch_size": 16}, optim={"lr": 1e-4},
                      eval={"every": 3, "data": ["testbed:val"], "modes": ["natural"], "limit": 4})
    config = write_config(cfg, "ranks.yaml")
    runs = config.parent / "runs"

    def train_with(name: str, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(hbpo_cmd("train", "--config", str(config), "--set", f"run.name={name}", *args),
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    def seen(name: str) -> tuple[list, list, dict]:
        events, errors = read_events(runs / name / "events.jsonl")
        assert errors == []
        keys = ("step", "query_index", "tier", "sample", "prompt", "text", "n_gen", "truncated", "correct",
                "token_marks", "reward", "advantage")
        rollouts = [tuple(json.dumps(e[k]) for k in keys) for e in events if e["type"] == "rollout"]
        evals = [{k: v for k, v in e.items() if k not in ("time", "tokens_per_s")} for e in events if e["type"] == "eval"]
        assert [e["status"] for e in events if e["type"] == "run_end"] == ["finished"]
        return rollouts, evals, next(e for e in events if e["type"] == "run_start")

    train_with("one")
    one_rollouts, one_evals, _ = seen("one")
    assert len(one_rollouts) == 3 * 4 * 8 and len(one_evals) == 1
    for name, parallel in (("ddp", "ddp"), ("fsdp", "fsdp")):
        two = train_with(name, "--set", f"train.parallel={parallel}", "--nproc", "2")
        two_rollouts, two_evals, start = seen(name)
        assert start["world_size"] == 2
        assert two.stderr.count("Using external launcher for distributed inference") == 2, name  # an engine a rank
        for step in (1, 2, 3):
            assert ([r for r in two_rollouts if r[0] == str(step)] ==
                    [r for r in one_rollouts if r[0] == str(step)]), (name, step)
        assert two_evals == one_evals, name


def test_a_gpu_memory_share_is_refused_for_a_cpu_run_before_anything_loads(write_config):
    from hbpo.config import ConfigError

    with pytest.raises(ConfigError, match="generation.vllm_gpu_memory: applies to a CUDA device; this run is on cpu"):
        load_config(write_config(tiny_config(generation={"engine": "vllm", "vllm_gpu_memory": 0.5})))
    load_config(write_config(tiny_config(generation={"engine": "vllm"})))  # the default is fine
