"""GPU check of the trainer at a real model size (issue 15): a few HBPO training steps on one GPU with
a random-weight model of the Qwen2.5-1.5B architecture (hidden 1536, 28 layers, 12 heads, 2 KV heads,
intermediate 8960, vocab 151936, tied embeddings), built from its config: nothing is downloaded.
Two runs of the same config through the trainer's own command line, each in its own process:

    fsdp   train.parallel: fsdp, world size 1 under torchrun (FSDP2: float32 weights and AdamW state,
           bfloat16 compute; sharded torch.distributed.checkpoint save)
    ddp    train.parallel: ddp, one process (the plain model, bfloat16 weights and AdamW state)

One JSON line each: peak GPU memory (allocated and reserved by PyTorch), steps/s, generated tokens/s,
the update's tokens/s (response tokens, the ones the loss sees, per second of update; and with the
prompts, every token its forward and backward run through), the time of the final checkpoint. The
first step is left out of the speeds (warm-up). The tokenizer is the testbed's byte-level BPE (the
cached testbed model's when there is one, else the same builder on its default corpus): its ids are
all in range of the real vocabulary, and the model's generation config suppresses the ids above the
tokenizer's, so that every sampled token decodes. Run folders and the model go to a temp folder,
deleted afterwards. Needs about 30 GB of GPU memory and 35 GB of disk; about 4 minutes on an H200.

    .venv/bin/python scripts/gpu-check.py            # on a machine with a CUDA GPU
    .venv/bin/python scripts/gpu-check.py --smoke    # CPU, a tiny model of the same shape family: seconds
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRAINER = REPO / "trainer"

QWEN25_15B = dict(hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                  intermediate_size=8960, vocab_size=151936, max_position_embeddings=32768, rope_theta=1_000_000.0,
                  rms_norm_eps=1e-6, tie_word_embeddings=True)
# --smoke: the same vocabulary (the suppression and the chunked log-probs over 151936 columns act), a toy body.
SMOKE = dict(QWEN25_15B, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             intermediate_size=128)


def build_model(folder: Path, shape: dict, device: str) -> int:
    """A random-weight Qwen2ForCausalLM of `shape` with the testbed's tokenizer, saved to `folder`
    (bfloat16 on CUDA); returns its parameter count."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    sys.path.insert(0, str(TRAINER))
    from hbpo.model import load_tokenizer
    from hbpo.testbed.build import Recipe, testbed_status
    from hbpo.tiny import build_tokenizer

    status = testbed_status()
    tokenizer = load_tokenizer(status["path"]) if status["cached"] else build_tokenizer(Recipe().vocab_size)
    config = Qwen2Config(**shape, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2ForCausalLM(config)
    model = model.to(torch.bfloat16 if device == "cuda" else torch.float32)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        suppress_tokens=list(range(len(tokenizer), shape["vocab_size"])))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def config(folder: Path, runs: Path, smoke: bool) -> dict:
    return {
        "method": "hbpo", "tiers": [6, 12, 18, 24] if smoke else [32, 64, 96, 128], "rollouts_per_query": 8,
        "max_response_tokens": 24 if smoke else 128,
        "run": {"dir": str(runs), "seed": 0, "device": "cpu" if smoke else "cuda"},
        "model": {"path": str(folder), "dtype": "float32" if smoke else "bfloat16"},
        "data": {"train": "testbed:train"},
        "generation": {"batch_size": 64},
        "optim": {"lr": 1.0e-6},
        "ppo": {"micro_batch_size": 16},
        "train": {"queries_per_step": 2 if smoke else 8, "steps": 3, "checkpoint_every": 1000, "keep_checkpoints": 1},
        "eval": {"every": 0},
    }


def child(args) -> None:
    """One run in this process (under torchrun for fsdp); prints its figures as one JSON line."""
    import torch
    import yaml

    sys.path.insert(0, str(TRAINER))
    from hbpo.cli import main
    from hbpo.model import load_tokenizer

    name = args.child
    status = main(["train", "--config", args.config, "--set", f"run.name={name}", "--set", f"train.parallel={name}"])
    if status != 0:
        raise SystemExit(f"{name}: the run failed (exit code {status})")
    runs = Path(yaml.safe_load(Path(args.config).read_text())["run"]["dir"])
    events = [json.loads(line) for line in (runs / name / "events.jsonl").read_text().splitlines() if line.strip()]
    start = next(e for e in events if e["type"] == "run_start")
    steps = [e for e in events if e["type"] == "step"]
    timed = steps[1:]  # the first step warms up
    seconds = timed[-1]["time"] - steps[0]["time"]
    generated = sum(e["metrics"]["tokens/generated"] for e in timed)
    generate_s = sum(e["metrics"]["time/generate_s"] for e in timed)
    update_s = sum(e["metrics"]["time/update_s"] for e in timed)
    tokenizer = load_tokenizer(args.model)
    prompts = sum(len(tokenizer(e["prompt"], add_special_tokens=False)["input_ids"])
                  for e in events if e["type"] == "rollout" and e["step"] > 1)
    checkpoint = [e for e in events if e["type"] == "checkpoint"][-1]
    cuda = torch.cuda.is_available() and torch.cuda.max_memory_allocated() > 0
    gib = 2 ** 30
    print(json.dumps({
        "check": name, "device": start["device"], "dtype": start["dtype"], "parameters": start["parameters"],
        "world_size": start["world_size"], "timed_steps": len(timed),
        "peak_gpu_allocated_gib": torch.cuda.max_memory_allocated() / gib if cuda else None,
        "peak_gpu_reserved_gib": torch.cuda.max_memory_reserved() / gib if cuda else None,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / gib,
        "steps_per_s": len(timed) / seconds,
        "generated_tokens_per_s": generated / generate_s,
        "update_tokens_per_s": generated / update_s,
        "update_tokens_per_s_with_prompts": (generated + prompts) / update_s,
        "step_s": seconds / len(timed), "generate_s": generate_s / len(timed), "update_s": update_s / len(timed),
        "checkpoint_s": checkpoint["time"] - steps[-1]["time"],
    }), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="CPU, a tiny body: checks the script itself")
    ap.add_argument("--only", choices=["fsdp", "ddp"], help="one of the two runs")
    ap.add_argument("--timeout", type=int, default=240, help="seconds a run may take (default 240)")
    ap.add_argument("--child", choices=["fsdp", "ddp"], help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)

    import torch

    if not args.smoke and not torch.cuda.is_available():
        raise SystemExit("gpu-check: PyTorch sees no CUDA device (use --smoke to check the script on a CPU)")
    with tempfile.TemporaryDirectory(prefix="hbpo-gpu-check-") as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        params = build_model(tmp / "model", SMOKE if args.smoke else QWEN25_15B, "cpu" if args.smoke else "cuda")
        print(json.dumps({"check": "model", "architecture": "Qwen2.5-1.5B" + (" (smoke: toy body)" if args.smoke else ""),
                          "parameters": params, "build_s": time.perf_counter() - started,
                          "torch": torch.__version__,
                          "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() and not args.smoke else None}),
              flush=True)
        path = tmp / "config.yaml"
        import yaml

        path.write_text(yaml.safe_dump(config(tmp / "model", tmp / "runs", args.smoke)))
        failed = False
        for name in [args.only] if args.only else ["fsdp", "ddp"]:
            me = [str(Path(__file__).resolve()), "--child", name, "--config", str(path), "--model", str(tmp / "model")]
            launch = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", *me]
                      if name == "fsdp" else [sys.executable, *me])
            t0 = time.perf_counter()
            try:
                done = subprocess.run(launch, cwd=TRAINER, capture_output=True, text=True, timeout=args.timeout,
                                      env={**os.environ, "PYTHONPATH": str(TRAINER)})
            except subprocess.TimeoutExpired:
                print(json.dumps({"check": name, "error": f"timed out after {args.timeout} s"}), flush=True)
                failed = True
                continue
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if done.returncode != 0 or not lines:
                print(json.dumps({"check": name, "error": f"exit code {done.returncode}",
                                  "stderr": done.stderr[-3000:]}), flush=True)
                failed = True
                continue
            figures = json.loads(lines[-1]) | {"wall_s": time.perf_counter() - t0}
            print(json.dumps(figures), flush=True)
            shutil.rmtree(tmp / "runs" / name, ignore_errors=True)  # the disk for the next run's checkpoint
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
