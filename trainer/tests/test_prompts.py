"""Budget prompts are placed after the reasoning tag, through the model's chat template."""

from hbpo.config import PromptConfig
from hbpo.modes import parse_mode
from hbpo.prompts import build_prompt
from hbpo.tiny import build_tokenizer


class OpensThink:
    """A template that already opens <think> (as R1-distill and Qwen3 templates do)."""

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        return "<|User|>" + messages[-1]["content"] + "<|Assistant|><think>\n"


def test_budget_sentence_follows_the_tag():
    tok = build_tokenizer(320)
    text = build_prompt(tok, "Compute 2 + 2.", 512, PromptConfig())
    assert text.startswith("<s><|user|>\nCompute 2 + 2.\nPlease reason step by step")
    assert text.endswith("<|assistant|>\n<think>\nI will answer the question within 512 tokens.\n")


def test_modes():
    tok = build_tokenizer(320)
    assert build_prompt(tok, "x", "natural", PromptConfig()).endswith("<think>\n")
    assert build_prompt(tok, "x", "efficiency", PromptConfig()).endswith("with minimal tokens.\n")
    released = PromptConfig(budget_sentence="I will answer the question with {budget} tokens")
    assert build_prompt(tok, "x", 1024, released).endswith("<think>\nI will answer the question with 1024 tokens\n")
    assert parse_mode("tier:2048") == 2048 and parse_mode("natural") == "natural"


def test_tag_is_not_opened_twice():
    text = build_prompt(OpensThink(), "x", 512, PromptConfig())
    assert text.count("<think>") == 1
    assert text.endswith("<think>\nI will answer the question within 512 tokens.\n")


def test_tokenizer_round_trips_untrusted_text():
    tok = build_tokenizer(320)
    text = "<script>alert(1)</script> ∑ 😀 \\boxed{42} </think>"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
