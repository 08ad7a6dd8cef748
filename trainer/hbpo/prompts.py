"""Budget prompts: the assistant turn opens the reasoning tag and states the budget.

    <chat template up to the assistant turn><think>
    I will answer the question within 512 tokens.
    <- generation starts here; n_gen counts from this point

Modes: a tier budget (`512`), `natural` (no sentence), `efficiency` ("... with minimal tokens").

L1 (method l1-exact) states its length target in the user turn instead, after the question:
`<question> Think for 1234 tokens.` (`target=1234`, `prompt.target_sentence`), with no sentence
after `<think>`.
"""

from __future__ import annotations


from .config import PromptConfig
from .modes import Mode

def build_prompt(tokenizer, problem: str, mode: Mode | None, cfg: PromptConfig, *,
                 target: int | None = None) -> str:
    """The full prompt text for one rollout; tokenize it without adding special tokens.
    `target`: L1's length target in tokens, appended to the question (then `mode` is natural)."""
    messages = []
    if cfg.system:
        messages.append({"role": "system", "content": cfg.system})
    question = cfg.question_template.replace("{problem}", problem)
    if target is not None:
        question += " " + cfg.target_sentence.replace("{target}", str(target))
    messages.append({"role": "user", "content": question})
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # Templates of reasoning models (R1-distill, Qwen3) already open the tag; do not open it twice.
    if not text.rstrip().endswith(cfg.think_open):
        text += cfg.think_open + "\n"
    elif not text.endswith("\n"):
        text += "\n"
    if mode is None or mode == "natural":
        return text
    if mode == "efficiency":
        return text + cfg.efficiency_sentence + "\n"
    return text + cfg.budget_sentence.replace("{budget}", str(mode)) + "\n"
