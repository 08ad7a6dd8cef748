"""Tiny causal LMs and a byte-level BPE tokenizer built locally: nothing is downloaded.

Used by tests and smoke runs (`model.path: tiny:llama` or `tiny:qwen2`). The tokenizer is GPT-2
style byte-level BPE, so any text round-trips and llama.cpp can load it after GGUF export.
"""

from __future__ import annotations

import random

import torch

from .config import TinyModelConfig

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>"]
ADDED_TOKENS = ["<think>", "</think>", "<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def default_corpus(seed: int = 0, lines: int = 3000) -> list[str]:
    """Deterministic text resembling math prompts and reasoning traces, to learn merges from."""
    rng = random.Random(seed)
    words = ("Let me compute step by step. First, then, so the answer is. Wait, let me check "
             "again. Alternatively, we can verify: the total is. Therefore the result equals. "
             "Please reason step by step, and put your final answer within \\boxed{}. "
             "I will answer the question within tokens. I will answer the question with minimal "
             "tokens. What is the value of plus minus times divided by").split()
    out = []
    for _ in range(lines):
        a, b = rng.randint(0, 999), rng.randint(0, 999)
        op = rng.choice("+-*")
        text = " ".join(rng.choice(words) for _ in range(rng.randint(4, 12)))
        out.append(f"{text} {a} {op} {b} = {eval(f'{a}{op}{b}')} \\boxed{{{a}}}")
    return out


def build_tokenizer(vocab_size: int = 512, corpus: list[str] | None = None):
    """A PreTrainedTokenizerFast: byte-level BPE with <s>, </s>, <pad> and the reasoning tags."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(ADDED_TOKENS), special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus or default_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", clean_up_tokenization_spaces=False)
    fast.add_tokens(ADDED_TOKENS)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(arch: str, cfg: TinyModelConfig, tokenizer, *, seed: int):
    """A randomly initialised LlamaForCausalLM or Qwen2ForCausalLM; same seed, same weights."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    common = dict(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads, num_key_value_heads=cfg.kv_heads,
        intermediate_size=cfg.intermediate_size, max_position_embeddings=cfg.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    classes = {"llama": (LlamaConfig, LlamaForCausalLM), "qwen2": (Qwen2Config, Qwen2ForCausalLM)}
    if arch not in classes:
        raise ValueError(f"model.path: unknown built-in model 'tiny:{arch}' (tiny:llama, tiny:qwen2)")
    config_cls, model_cls = classes[arch]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return model_cls(config_cls(**common))
