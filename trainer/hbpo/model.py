"""Policy loading: a local or cached hub model, or a tiny model built from a config, plus LoRA."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import torch

from .config import ModelConfig

log = logging.getLogger("hbpo")

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def pick_device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"run.device: '{spec}' asked for, but PyTorch sees no CUDA device")
    return torch.device(spec)


def pick_dtype(spec: str, device: torch.device) -> torch.dtype:
    if spec == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return DTYPES[spec]


def load_tokenizer(path: str | Path):
    """The tokenizer saved in `path`. A tokenizer this project built (tiny.py, the testbed) is saved
    as a plain fast tokenizer and loaded as one: AutoTokenizer would pick the class from the
    model type (a qwen2 folder gets Qwen2Tokenizer, whose pre-tokenizer and added tokens differ
    from what the model was trained with)."""
    import json

    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    config = Path(path) / "tokenizer_config.json"
    if config.is_file():
        cls = json.loads(config.read_text(encoding="utf-8")).get("tokenizer_class")
        if cls in ("TokenizersBackend", "PreTrainedTokenizerFast"):
            return PreTrainedTokenizerFast.from_pretrained(path)
    return AutoTokenizer.from_pretrained(path)


def load_policy(cfg: ModelConfig, device: torch.device, dtype: torch.dtype, *, seed: int,
                weights_from: Path | None = None, log: Callable[[str], None] | None = None,
                should_stop: Callable[[], bool] | None = None, testbed_version: int = 2):
    """(model, tokenizer) on `device`. `weights_from` is a checkpoint's `model/` folder: resume
    and evaluation load the trained weights (or LoRA adapter) and the tokenizer saved there.
    `log` receives progress lines of a long preparation (the testbed's first build; default stderr),
    which `should_stop` can cut short (testbed.build.BuildStopped). `testbed_version`: which base
    model `testbed:base` is (config `testbed.version`)."""
    from transformers import AutoModelForCausalLM

    lora_resume = weights_from is not None and (weights_from / "adapter_config.json").exists()
    base_path = cfg.path
    if cfg.path == "testbed:base" and (weights_from is None or lora_resume):
        from .testbed.build import ensure_testbed_model, recipe_for  # built once (minutes), then cached

        base_path = str(ensure_testbed_model(recipe=recipe_for(testbed_version), should_stop=should_stop,
                                             **({"log": log} if log else {})))
    if weights_from is not None and not lora_resume:
        tokenizer = load_tokenizer(weights_from)
        model = AutoModelForCausalLM.from_pretrained(weights_from, dtype=dtype)
    elif cfg.path.startswith("tiny:"):
        from .tiny import build_tiny_model, build_tokenizer

        tokenizer = load_tokenizer(weights_from) if lora_resume else build_tokenizer(cfg.tiny.vocab_size)
        model = build_tiny_model(cfg.path.removeprefix("tiny:"), cfg.tiny, tokenizer, seed=seed).to(dtype)
    else:
        tokenizer = load_tokenizer(base_path)
        model = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # batched generation appends after the prompt

    if cfg.lora is not None:
        from peft import LoraConfig, PeftModel, get_peft_model

        if lora_resume:
            model = PeftModel.from_pretrained(model, weights_from, is_trainable=True)
        else:
            model = get_peft_model(model, LoraConfig(
                r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                target_modules=cfg.lora.target_modules, task_type="CAUSAL_LM"))
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.to(device), tokenizer


def count_parameters(model) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
