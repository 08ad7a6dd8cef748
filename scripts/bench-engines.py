"""Rollout engines side by side: generated tokens/s and seconds a step, vllm against hf, in one run.

    .venv-vllm/bin/python scripts/bench-engines.py                       # CPU: the testbed engine model
    .venv-vllm/bin/python scripts/bench-engines.py --model qwen2.5-0.5b  # CPU: a real architecture
    .venv-vllm/bin/python scripts/bench-engines.py --device cuda --model qwen2.5-1.5b \
        --queries 64 --rollouts 16 --max-tokens 4096 --hf-queries 4      # a GPU at the paper's shape

Both engines get the same model (the same weights in memory), the same prompts (the testbed's
problems under the four budget tiers, as a step builds them) and the same sampling (temperature 1).
`--model engine` is the testbed model vLLM's CPU build runs (testbed/build.py ENGINE_RECIPE);
`qwen2.5-0.5b` and `qwen2.5-1.5b` are random-weight models of those architectures built from their
published shapes (nothing is downloaded; random weights rarely sample EOS, so both engines run every
sequence to the limit and the work is the same). `--hf-queries` lets hf do a share of the step where
doing all of it would take too long; its figures are per token, and its seconds a step are scaled to
the whole step. Prints one JSON line per engine and one with the ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

QWEN = {  # the published shapes (config.json of Qwen/Qwen2.5-0.5B and -1.5B), tied embeddings
    "qwen2.5-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                         num_key_value_heads=2),
    "qwen2.5-1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                         num_key_value_heads=2),
}


def build(name: str, device: torch.device, dtype: torch.dtype):
    from hbpo.model import load_tokenizer
    from hbpo.testbed.build import ENGINE_RECIPE, ensure_testbed_model

    folder = ensure_testbed_model(recipe=ENGINE_RECIPE)  # its tokenizer writes the prompts in every case
    tokenizer = load_tokenizer(folder)
    tokenizer.padding_side = "left"
    if name == "engine":
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    else:
        from transformers import Qwen2Config, Qwen2ForCausalLM

        config = Qwen2Config(vocab_size=151936, max_position_embeddings=32768, rope_theta=1e6, rms_norm_eps=1e-6,
                             tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **QWEN[name])
        torch.manual_seed(0)
        with torch.device(device):
            model = Qwen2ForCausalLM(config).to(dtype)
    return model.to(device).eval(), tokenizer


def prompts_of(tokenizer, queries: int, rollouts: int) -> list[str]:
    from hbpo.config import Config
    from hbpo.prompts import build_prompt
    from hbpo.sources import load_source

    cfg, tiers = Config(), (512, 1024, 2048, 2560)
    per_tier = max(1, rollouts // len(tiers))
    return [build_prompt(tokenizer, p.problem, t, cfg.prompt)
            for p in load_source("testbed:train", limit=queries) for t in tiers for _ in range(per_tier)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="engine", choices=["engine", *QWEN])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--queries", type=int, default=8, help="queries a step (default 8)")
    ap.add_argument("--rollouts", type=int, default=8, help="rollouts a query, over the 4 tiers (default 8)")
    ap.add_argument("--max-tokens", type=int, default=128, help="L_max (default 128)")
    ap.add_argument("--hf-queries", type=int, default=None, help="hf generates this many queries' rollouts")
    ap.add_argument("--batch-size", type=int, default=64, help="hf: sequences a generate call (default 64)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    from hbpo.config import Config
    from hbpo.engines import HFEngine, make_engine

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model, tokenizer = build(args.model, device, dtype)
    cfg = Config()
    cfg.max_response_tokens = args.max_tokens
    cfg.generation.batch_size = args.batch_size
    cfg.generation.engine = "vllm"
    prompts = prompts_of(tokenizer, args.queries, args.rollouts)
    hf_share = prompts[:len(prompts_of(tokenizer, args.hf_queries, args.rollouts))] if args.hf_queries else prompts
    shape = {"model": args.model, "device": str(device), "dtype": str(dtype).removeprefix("torch."),
             "parameters": sum(p.numel() for p in model.parameters()), "max_tokens": args.max_tokens}

    rows = {}
    for name in ("hf", "vllm"):
        share = hf_share if name == "hf" else prompts
        started = time.perf_counter()
        engine = HFEngine.of(model, tokenizer) if name == "hf" else make_engine(cfg, model, tokenizer, device, dtype)
        setup = time.perf_counter() - started
        try:
            with engine.generating():
                engine.generate(share[:2], max_new_tokens=8, gen=cfg.generation, seed=0)  # warm-up
                if device.type == "cuda":
                    torch.cuda.synchronize()
                started = time.perf_counter()
                results, stats = engine.generate(share, max_new_tokens=args.max_tokens, gen=cfg.generation, seed=1)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                seconds = time.perf_counter() - started
        finally:
            engine.close()
        tokens = sum(len(r) for _, r in results)
        rows[name] = {**shape, "engine": name, "rollouts": len(share), "step_rollouts": len(prompts),
                      "tokens": tokens, "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 1),
                      "seconds_a_step": round(seconds * len(prompts) / len(share), 2),
                      "setup_s": round(setup, 2)}
        print(json.dumps(rows[name]), flush=True)
    print(json.dumps({"ratio_tokens_per_s_vllm_to_hf": round(rows["vllm"]["tokens_per_s"] / rows["hf"]["tokens_per_s"], 2),
                      "ratio_seconds_a_step_hf_to_vllm": round(rows["hf"]["seconds_a_step"] / rows["vllm"]["seconds_a_step"], 2),
                      **shape}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
