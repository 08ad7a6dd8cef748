"""Make the external-run fixtures in test/fixtures/external/ with the real tools.

Each part runs in its own virtual environment (their pins differ from the trainer's; none of them
is installed into the project's .venv):

    uv venv /tmp/trl-venv && VIRTUAL_ENV=/tmp/trl-venv uv pip install trl==1.16.0 torch==2.15.0 \
        transformers==5.23.0 accelerate==1.15.0 datasets pyarrow math-verify==0.9.0 pyyaml
    VIRTUAL_ENV=/tmp/trl-venv uv pip install --no-deps lm-eval==0.4.13
    uv venv /tmp/verl-venv && VIRTUAL_ENV=/tmp/verl-venv uv pip install --no-deps verl==0.9.1
    VIRTUAL_ENV=/tmp/verl-venv uv pip install torch==2.15.0 transformers==5.23.0 ray omegaconf \
        hydra-core tensordict torchdata codetiming pandas pyarrow datasets dill peft accelerate \
        orjson pillow cachetools uvicorn fastapi math-verify==0.9.0 pyyaml

    PYTHONPATH=trainer /tmp/trl-venv/bin/python scripts/make-external-fixtures.py trl
    PYTHONPATH=trainer /tmp/verl-venv/bin/python scripts/make-external-fixtures.py verl
    PYTHONPATH=trainer /tmp/trl-venv/bin/python scripts/make-external-fixtures.py eval

The model is the testbed's base model (~/.cache/hbpo-studio/testbed/<key>/, built by
`python -m hbpo testbed build`), on the CPU; problems are the testbed's `train` split; prompts are
built by hbpo.prompts.build_prompt (the budget sentence after `<think>`), at several budgets, with
several completions each, and some prompts carry non-ASCII text. Every file is written by the tool's
own writer:

- trl/: GRPOTrainer (log_completions=True) for 2 steps: `completions/completions_{step:05d}.parquet`
  as TRL's GRPOTrainer.log writes them (pandas DataFrame.to_parquet).
- verl/: verl 0.9.1's RayPPOTrainer._log_rollout_data -> _dump_generations -> _write_generations on a DataProto of real
  generations (prompts left-padded, responses right-padded, token-level scores): `{step}.jsonl`.
  Then one line of 2.jsonl is cut short, as a copy taken while the file was written would have it
  (the malformed line the adapter must report).
- eval/lm-eval/: lm-evaluation-harness's EvaluationTracker.save_results_samples
  (`samples_<task>_<date>.jsonl`).
- eval/skythought/: two `skythought evaluate` runs (budget 32 and 128 as the model's assistant
  prefill), driven through SkyThought's own code at SKYTHOUGHT_COMMIT (a checkout's
  skythought/evals: conversations, generate_and_score's results assembly, scoring through the
  math handler's update_results, save_results / save_summary, the run folder's name and hash).
  Its engines (vLLM 0.7, Ray) cannot be installed beside these tools: generation is the testbed
  model's through transformers, handed over as SkyThought's Response.from_vllm_response would
  build it, and correctness is hbpo's grader in place of its latex2sympy2 parser. Needs, in
  /tmp/trl-venv: `uv pip install openai pydantic msgpack xxhash`; then
      git clone https://github.com/NovaSky-AI/SkyThought /tmp/SkyThought && git -C /tmp/SkyThought checkout 0d190f1
      PYTHONPATH=trainer /tmp/trl-venv/bin/python scripts/make-external-fixtures.py skythought=/tmp/SkyThought
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test" / "fixtures" / "external"
TIERS = [32, 64, 128]
SEED = 1234


def model_dir() -> Path:
    from hbpo.testbed.build import testbed_status

    status = testbed_status()
    if not status["cached"]:
        sys.exit("the testbed model is not built: python -m hbpo testbed build")
    return Path(status["path"])


def seeded_model():
    """(tokenizer, model in eval mode) of the testbed, with torch seeded: what each tool generates with."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(SEED)
    path = model_dir()
    return AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path).eval()


def problems(n: int, offset: int = 0):
    from hbpo.testbed.problems import generate

    return generate("train", n + offset)[offset:]


NON_ASCII = [
    "Réfléchis étape par étape — réponse finale dans \\boxed{}.",
    "请逐步推理，并把最终答案写在 \\boxed{} 中。",
]


def prompt_for(tokenizer, problem: str, budget, k: int) -> str:
    from hbpo.config import PromptConfig
    from hbpo.prompts import build_prompt

    cfg = PromptConfig()
    if k % 3 == 2:  # some prompts in another language (non-ASCII text through every writer)
        cfg = PromptConfig(question_template="{problem}\n" + NON_ASCII[k % 2])
    return build_prompt(tokenizer, problem, budget, cfg)


def grade(text: str, answer: str) -> float:
    from hbpo.grading import extract_answer

    got = extract_answer(text)
    return 1.0 if got is not None and got.strip() == answer.strip() else 0.0


# ---------------------------------------------------------------- TRL


def make_trl() -> None:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    torch.manual_seed(SEED)
    path = model_dir()
    tok = AutoTokenizer.from_pretrained(path)
    rows = []
    for k, p in enumerate(problems(4)):
        for b in TIERS:
            rows.append({"prompt": prompt_for(tok, p.problem, b, k), "answer": p.answer})
    ds = Dataset.from_list(rows)

    def accuracy(completions, answer, **_):
        return [grade(c, a) for c, a in zip(completions, answer)]

    def budget_sentence_kept(prompts, completions, **_):  # a second reward column, as users add
        return [-0.001 * len(c) for c in completions]

    out = OUT / "trl"
    work = Path("/tmp/hbpo-trl-fixture")
    shutil.rmtree(work, ignore_errors=True)
    args = GRPOConfig(
        output_dir=str(work), max_steps=2, logging_steps=1, log_completions=True, report_to="none",
        use_cpu=True, num_generations=4, per_device_train_batch_size=12, max_completion_length=160,
        learning_rate=1e-5, save_strategy="no", seed=SEED, temperature=1.0, bf16=False,
        num_completions_to_print=0,
    )
    model = AutoModelForCausalLM.from_pretrained(path)
    trainer = GRPOTrainer(model=model, reward_funcs=[accuracy, budget_sentence_kept], args=args,
                          train_dataset=ds, processing_class=tok)
    trainer.train()
    shutil.rmtree(out, ignore_errors=True)
    (out / "completions").mkdir(parents=True)
    for f in sorted((work / "completions").glob("*.parquet")):
        shutil.copy(f, out / "completions" / f.name)
        print("wrote", out / "completions" / f.name, f.stat().st_size)


# ---------------------------------------------------------------- verl


def make_verl() -> None:
    import numpy as np
    import torch
    from verl import DataProto
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer

    tok, model = seeded_model()
    out = OUT / "verl"
    shutil.rmtree(out, ignore_errors=True)
    trainer = object.__new__(RayPPOTrainer)  # only the dump path: no Ray workers
    trainer.tokenizer = tok
    trainer._init_dump_executor()  # verl 0.9 writes dumps on a background thread
    per_tier = 2
    max_new = 160
    for step in (1, 2):
        items = []
        for k, p in enumerate(problems(3, offset=3 * (step - 1))):
            for b in TIERS:
                prompt = prompt_for(tok, p.problem, b, k)
                # verl repeats each prompt rollout.n times, interleaved (batch.repeat(interleave=True))
                for _ in range(per_tier):
                    items.append((prompt, p.answer))
        enc = [tok(p, add_special_tokens=False)["input_ids"] for p, _ in items]
        width = max(map(len, enc))
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        prompts = torch.full((len(enc), width), pad, dtype=torch.long)
        mask = torch.zeros_like(prompts)
        for i, ids in enumerate(enc):  # left padding, as verl's RL dataset pads prompts
            prompts[i, width - len(ids):] = torch.tensor(ids)
            mask[i, width - len(ids):] = 1
        with torch.no_grad():
            gen = model.generate(input_ids=prompts, attention_mask=mask, do_sample=True, temperature=1.0,
                                 max_new_tokens=max_new, pad_token_id=pad)
        responses = gen[:, width:]
        responses = torch.nn.functional.pad(responses, (0, max_new - responses.shape[1]), value=pad)
        texts = tok.batch_decode(responses, skip_special_tokens=True)
        scores = torch.zeros(responses.shape, dtype=torch.float32)
        acc, pred = [], []
        from hbpo.grading import extract_answer
        for i, ((_, answer), text) in enumerate(zip(items, texts)):
            s = grade(text, answer)
            length = int((responses[i] != pad).sum())
            scores[i, max(length - 1, 0)] = s  # reward on the last response token
            acc.append(bool(s))
            pred.append(extract_answer(text) or "")
        batch = DataProto.from_dict(
            tensors={"prompts": prompts, "responses": responses, "token_level_scores": scores},
            non_tensors={"reward_model": np.array([{"ground_truth": a, "style": "rule"} for _, a in items], dtype=object),
                         "data_source": np.array(["testbed"] * len(items), dtype=object)},
        )
        trainer.global_steps = step
        RayPPOTrainer._log_rollout_data(trainer, batch, {"acc": acc, "pred": pred}, {}, str(out))
    trainer._shutdown_dump_executor()
    # A copy taken while verl was writing 2.jsonl: its last line cut short.
    f = out / "2.jsonl"
    lines = f.read_text(encoding="utf-8").split("\n")
    lines[-2] = lines[-2][: len(lines[-2]) // 2]
    f.write_text("\n".join(lines[:-1]), encoding="utf-8")
    for f in sorted(out.glob("*.jsonl")):
        print("wrote", f, f.stat().st_size)


# ---------------------------------------------------------------- evaluation samples


def make_eval() -> None:
    import torch

    tok, model = seeded_model()
    out = OUT / "eval"
    shutil.rmtree(out / "lm-eval", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    probs = problems(4, offset=20)
    modes = [32, 128]
    n = 3

    def sample(prompt: str, k: int) -> list[str]:
        ids = tok(prompt, add_special_tokens=False, return_tensors="pt")
        with torch.no_grad():
            g = model.generate(**ids, do_sample=True, temperature=1.0, max_new_tokens=160, num_return_sequences=k,
                               pad_token_id=tok.eos_token_id)
        return tok.batch_decode(g[:, ids["input_ids"].shape[1]:], skip_special_tokens=True)

    # lm-evaluation-harness: EvaluationTracker.save_results_samples writes one JSON line per doc,
    # `resps` [[each repeat's text]], `filtered_resps`, the metric (`exact_match`), `arguments`.
    from lm_eval.loggers import EvaluationTracker

    tracker = EvaluationTracker(output_path=str(out / "lm-eval"))
    tracker.general_config_tracker.model_name_sanitized = "testbed-base"
    tracker.date_id = "2026-11-30T12-00-00.000000"  # set by save_results_aggregated in a full run
    samples = []
    for i, p in enumerate(probs):
        for b in modes:
            prompt = prompt_for(tok, p.problem, b, i)
            texts = sample(prompt, n)
            from hbpo.grading import extract_answer
            filtered = [extract_answer(t) or "[invalid]" for t in texts]
            em = sum(grade(t, p.answer) for t in texts) / n
            samples.append({
                "doc_id": len(samples), "doc": {"question": p.problem, "answer": p.answer, "budget": b},
                "target": p.answer,
                # as lm-eval's evaluator hands them over: one (context, gen_kwargs) tuple per request
                "arguments": [(prompt, {"until": ["</answer>"], "do_sample": True, "temperature": 1.0,
                                        "max_gen_toks": 160})],
                "resps": [texts], "filtered_resps": [filtered[0]], "filter": "none", "metrics": ["exact_match"],
                "doc_hash": "", "prompt_hash": "", "target_hash": "", "exact_match": em,
            })
    tracker.save_results_samples(task_name="testbed_budget", samples=samples)

    for f in sorted(out.rglob("*.json*")):
        print("wrote", f, f.stat().st_size)


# ---------------------------------------------------------------- SkyThought

SKYTHOUGHT_COMMIT = "0d190f1"  # NovaSky-AI/SkyThought main, the code this file drives


def skythought_modules(src: Path):
    """SkyThought's own evaluation code (skythought/evals at SKYTHOUGHT_COMMIT, from a checkout at
    `src`), imported without its engines: vLLM 0.7 and Ray cannot be installed beside the tools here,
    so `vllm` and `ray` are stand-ins and generation is done by the caller (what SkyThought's
    `inference` would hand back, built as Response.from_vllm_response builds it). Everything that
    shapes the files (conversations, results assembly, scoring, summary, writers, run folder name)
    is SkyThought's code."""
    import types

    sys.path.insert(0, str(src))

    class SamplingParams:  # vllm.SamplingParams' fields SkyThought reads
        def __init__(self, n=1, temperature=1.0, top_p=1.0, max_tokens=16, seed=None):
            self.n, self.temperature, self.top_p, self.max_tokens, self.seed = n, temperature, top_p, max_tokens, seed
            self.__annotations__ = {"n": int, "temperature": float, "top_p": float, "max_tokens": int, "seed": int}

    def stub(name: str, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        sys.modules[name] = m
        return m

    stub("vllm", SamplingParams=SamplingParams, LLM=object)
    stub("ray")
    stub("skythought.evals.batch", Pipeline=object, init_engine_from_config=None)
    stub("skythought.evals.batch.env_config", EnvConfig=object)
    stub("skythought.evals.batch.workload", EvalWorkload=object)
    # the math handler's parser needs latex2sympy2 (antlr 4.7, against math-verify's): its
    # check_correctness is replaced below, so its parser is never called
    stub("skythought.evals.util.math_parsing_util", extract_answer=None, math_equal=None, strip_answer_string=None)
    # the task registry imports every benchmark's handler (code execution sandboxes and all): only
    # the base and the math handler are needed
    tasks = stub("skythought.evals.tasks")
    tasks.__path__ = [str(src / "skythought" / "evals" / "tasks")]
    from skythought.evals.tasks import base

    tasks.__dict__.update(ConversationType=base.ConversationType, TaskHandler=base.TaskHandler,
                          TaskConfig=base.TaskConfig, NUMINATaskHandler=type("NUMINATaskHandler", (), {}))
    from skythought.evals import inference_and_check
    from skythought.evals.common.entities import Backend, SamplingParameters
    from skythought.evals.models import ModelConfig
    from skythought.evals.tasks.math.math_handler import MathTaskHandler
    from skythought.evals.util.cli_util import get_deterministic_hash
    from skythought.evals.util.response import Response

    return types.SimpleNamespace(iac=inference_and_check, base=base, Backend=Backend, SamplingParameters=SamplingParameters,
                                 ModelConfig=ModelConfig, MathTaskHandler=MathTaskHandler, Response=Response,
                                 hash=get_deterministic_hash, SamplingParams=SamplingParams)


def make_skythought(src: Path) -> None:
    """eval/skythought/: two `skythought evaluate` runs of the testbed model on a math task, one at
    budget 32 and one at 128 (the budget sentence as the model's assistant prefill, after <think>),
    3 samples a problem: `<model>_<task>_<hash>/results.json` and `summary.json` each."""
    import torch
    from datasets import Dataset

    sky = skythought_modules(src)
    tok, model = seeded_model()
    out = OUT / "eval" / "skythought"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rows = [{"problem": p.problem + (" — " + NON_ASCII[i % 2] if i == 2 else ""), "answer": p.answer,
             "difficulty": p.difficulty} for i, p in enumerate(problems(4, offset=40))]
    task_config = sky.base.TaskConfig(
        handler="math", dataset_path="hbpo-testbed/train", question_key="problem", answer_key="answer",
        templating_parameters={"template": "{problem}\nPlease reason step by step, and put your final answer within \\boxed{{}}."})

    def load_and_filter_dataset(self, start, end, split=None, subset=None, difficulty=None):
        data = Dataset.from_list(rows).map(sky.base.add_idx_map, with_indices=True).to_pandas()
        return data.iloc[start:end] if end > 0 else data.iloc[start:]

    def check_correctness(self, problem, generation):
        return grade(generation, problem[self.task_config.answer_key]) > 0

    # at module level: score_responses sends the handler's update_results to a process pool (pickled)
    global TestbedMath
    TestbedMath = type("TestbedMath", (sky.MathTaskHandler,), {
        "load_and_filter_dataset": load_and_filter_dataset, "check_correctness": check_correctness, "__module__": __name__})

    def inference(conversations, backend, backend_params, model_config, sampling_params, **kwargs):
        """What SkyThought's vLLM path returns: llm.chat(..., continue_final_message=True) on each
        conversation, n samples each, as Response.from_vllm_response (text without special tokens,
        completion tokens = the generated ids, EOS included)."""
        params = sampling_params.params
        responses = []
        for conv in conversations:
            prompt = tok.apply_chat_template(conv, tokenize=False, continue_final_message=True)
            ids = tok(prompt, add_special_tokens=False, return_tensors="pt")
            with torch.no_grad():
                g = model.generate(**ids, do_sample=True, temperature=params.temperature, top_p=params.top_p,
                                   max_new_tokens=params.max_tokens, num_return_sequences=params.n,
                                   pad_token_id=tok.eos_token_id)
            gen = g[:, ids["input_ids"].shape[1]:].tolist()
            cut = [ids_[: ids_.index(tok.eos_token_id) + 1] if tok.eos_token_id in ids_ else ids_ for ids_ in gen]
            responses.append(sky.Response(response=tok.batch_decode(cut, skip_special_tokens=True),
                                          num_completion_tokens=[len(c) for c in cut],
                                          num_input_tokens=ids["input_ids"].shape[1]))
        return responses

    sky.iac.inference = inference
    handler = TestbedMath(task_config)
    for budget in (32, 128):
        model_config = sky.ModelConfig(model_id="hbpo-testbed/base",
                                       assistant_prefill=f"<think>\nI will answer the question within {budget} tokens.")
        sampling = sky.SamplingParameters(params=sky.SamplingParams(n=3, temperature=1.0, top_p=1.0, max_tokens=160))
        # cli.get_run_config's layout (cli.py imports every task's handler)
        run_config = {
            "task": {"name": "testbed", "config": task_config.model_dump(), "start": 0, "end": -1},
            "model": {"name": model_config.model_id, "config": model_config.model_dump()},
            "backend": {"name": sky.Backend.VLLM, "backend_args": {}},
            "sampling_params": sampling.to_dict(),
        }
        run_dir = out / f"{model_config.model_id.replace('/', '_')}_testbed_{sky.hash(run_config)}"
        run_dir.mkdir()
        sky.iac.generate_and_score(handler, model_config, sky.Backend.VLLM, None, sampling, run_dir, 0, -1,
                                   run_config_dict=run_config)


if __name__ == "__main__":
    what = sys.argv[1:] or ["trl"]
    for w in what:
        if w.startswith("skythought="):  # skythought=<a SkyThought checkout at SKYTHOUGHT_COMMIT>
            make_skythought(Path(w.split("=", 1)[1]))
        else:
            {"trl": make_trl, "verl": make_verl, "eval": make_eval}[w]()
