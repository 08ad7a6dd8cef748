r"""Peak memory and time of the update's log-prob computation, whole logits vs chunked (issue 15),
and the update's time with and without the old log-probs' forward.

    .venv/bin/python scripts/bench-logprobs.py            # from the repository root
    .venv/bin/python scripts/bench-logprobs.py --vocab 151936 --hidden 64 --layers 2 \
        --prompt 300 --response 1000 --batch 2 --chunk 1024 --repeats 20   # the defaults, spelled out

Prints one JSON line per measurement:
  {"bench": "logprobs", "variant": "whole" | "chunked", ...}  one forward + backward of the log-probs
      of a random-weight Qwen2-shaped model with a large vocabulary (Qwen2.5's 151,936 by default;
      small hidden size and depth so that the output projection dominates, as it does for memory
      at real size). Each variant runs in a fresh subprocess; on a CPU its peak is the process's
      peak resident set (ru_maxrss), `peak_over_start_mib` what the log-probs added on top of the
      model and batch; on CUDA torch.cuda.max_memory_allocated over the same span.
  {"bench": "logprobs", "ratio": ...}  whole / chunked peak increase.
  {"bench": "update", "old_forward": "skipped" | "run", ...}  ppo_update's time on the tiny model
      (one optimizer step over the batch, where the old log-probs' forward is skipped unless forced),
      one thread, minimum and median over interleaved repeats; then the ratio and the forward's share.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "trainer"))


def rss_mib() -> float:
    """Current resident set size (Linux), else the peak so far."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_variant(args) -> dict:
    """One forward + backward of the response tokens' log-probs, in this (fresh) process."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    import hbpo.update
    from hbpo.loss import token_logprobs
    from hbpo.update import Sequences, forward_logprobs

    if args.chunk:
        hbpo.update.LOGPROB_CHUNK = args.chunk

    torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda else torch.float32  # the trainer's defaults (model.dtype: auto)
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=args.vocab, hidden_size=args.hidden, num_hidden_layers=args.layers,
                         num_attention_heads=4, num_key_value_heads=2, intermediate_size=4 * args.hidden,
                         max_position_embeddings=args.prompt + args.response + 8, tie_word_embeddings=True)
    model = Qwen2ForCausalLM(config).to(device=device, dtype=dtype).train()
    T = args.prompt + args.response
    tokens = torch.randint(0, args.vocab, (args.batch, T), device=device)
    response = torch.zeros_like(tokens)
    response[:, args.prompt:] = 1
    seqs = Sequences(tokens, torch.ones_like(tokens), response)

    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated() / 2**20
    else:
        start = rss_mib()
    t0 = time.perf_counter()
    if args.variant == "whole":  # the computation before issue 15
        logits = model(input_ids=seqs.tokens, attention_mask=seqs.attention, use_cache=False).logits
        logp, entropy = token_logprobs(logits, seqs.tokens, args.temperature)
    else:
        logp, entropy = forward_logprobs(model, seqs, args.temperature)
    loss = -(logp * seqs.response).sum() / seqs.response.sum()
    loss.backward()
    if cuda:
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    seconds = time.perf_counter() - t0
    mean_entropy = float((entropy * seqs.response).sum() / seqs.response.sum())
    return {"bench": "logprobs", "variant": args.variant, "device": device.type,
            "dtype": str(dtype).removeprefix("torch."), "vocab": args.vocab, "hidden": args.hidden,
            "layers": args.layers, "batch": args.batch, "prompt": args.prompt, "response": args.response,
            "chunk": hbpo.update.LOGPROB_CHUNK, "loss": round(float(loss), 6), "entropy": round(mean_entropy, 6),
            "start_mib": round(start, 1), "peak_mib": round(peak, 1), "peak_over_start_mib": round(peak - start, 1),
            "seconds": round(seconds, 2)}


def bench_update(args) -> list[dict]:
    """ppo_update's time on the tiny model, old log-probs' forward skipped vs forced."""
    import copy

    import torch
    import yaml

    from hbpo.config import load_config
    from hbpo.data import Problem
    from hbpo.model import load_policy
    from hbpo.rollout import Rollout
    from hbpo.update import ppo_update

    raw = {"method": "hbpo", "tiers": [8, 16], "rollouts_per_query": 4, "max_response_tokens": 256,
           "run": {"seed": 7, "device": "cpu", "threads": 1}, "model": {"path": "tiny:qwen2"},
           "data": {"train": "testbed:train"}, "ppo": {"micro_batch_size": 4}, "train": {"queries_per_step": 2}}
    with tempfile.TemporaryDirectory() as tmp:
        raw["run"]["dir"] = tmp
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(raw))
        cfg = load_config(path)
    model, tokenizer = load_policy(cfg.model, torch.device("cpu"), torch.float32, seed=cfg.run.seed)
    g = torch.Generator().manual_seed(0)
    problem = Problem(id="p", problem="?", answer="1", difficulty=None, source="bench")
    rollouts = []
    for k in range(8):
        ids = torch.randint(3, len(tokenizer), (64 + 192,), generator=g).tolist()
        rollouts.append(Rollout(query_index=k // 4, problem=problem, tier=8, sample=k % 4, prompt="",
                                prompt_ids=ids[:64], response_ids=ids[64:], text="", n_gen=192,
                                truncated=False, token_marks=[]))
    advantages = [(-1.0) ** k * 0.5 for k in range(8)]
    # One thread and the minimum over interleaved repeats, CPU time beside wall time: on a shared
    # machine other processes' load only ever adds time, so the minimum is the robust figure.
    torch.set_num_threads(1)
    wall, cpu = {False: [], True: []}, {False: [], True: []}
    for k in range(args.repeats + 1):
        for force in (False, True):
            m = copy.deepcopy(model)
            opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-3)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
            t0, c0 = time.perf_counter(), time.process_time()
            ppo_update(m, opt, sched, rollouts, advantages, cfg, tokenizer.pad_token_id, torch.device("cpu"),
                       _force_old_forward=force)
            if k:  # the first round warms up
                wall[force].append(time.perf_counter() - t0)
                cpu[force].append(time.process_time() - c0)
    out = [{"bench": "update", "old_forward": "run" if force else "skipped", "model": "tiny:qwen2",
            "rollouts": len(rollouts), "tokens_per_rollout": 256, "threads": 1, "repeats": args.repeats,
            "min_s": round(min(wall[force]), 4), "median_s": round(statistics.median(wall[force]), 4),
            "cpu_min_s": round(min(cpu[force]), 4)} for force in (False, True)]
    skipped, run = out[0]["min_s"], out[1]["min_s"]
    out.append({"bench": "update", "ratio_run_over_skipped": round(run / skipped, 3),
                "old_forward_share": round(1 - skipped / run, 3)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vocab", type=int, default=151936)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=300)
    ap.add_argument("--response", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--chunk", type=int, help="positions per chunk (default: hbpo.loss.LOGPROB_CHUNK)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20, help="ppo_update repeats per variant")
    ap.add_argument("--variant", choices=["whole", "chunked"], help=argparse.SUPPRESS)  # the subprocess's
    args = ap.parse_args()
    if args.variant:
        print(json.dumps(one_variant(args)))
        return
    results = {}
    for variant in ("whole", "chunked"):  # each in a fresh process: ru_maxrss is a process-wide high-water mark
        cmd = [sys.executable, __file__, *sys.argv[1:], "--variant", variant]
        line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        print(line, flush=True)
        results[variant] = json.loads(line)
    whole, chunked = results["whole"], results["chunked"]
    ratio = whole["peak_over_start_mib"] / max(chunked["peak_over_start_mib"], 1e-9)
    print(json.dumps({"bench": "logprobs", "ratio": round(ratio, 2),
                      "loss_diff": abs(whole["loss"] - chunked["loss"]),
                      "speedup": round(whole["seconds"] / chunked["seconds"], 2)}), flush=True)
    for line in bench_update(args):
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
