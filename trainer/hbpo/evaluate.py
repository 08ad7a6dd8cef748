"""Evaluation: pass@1 and mean generated tokens per dataset and mode, per difficulty."""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from .config import Config
from .data import Problem
from .grading import grade
from .modes import Mode, mode_key
from .prompts import build_prompt
from .rollout import generate


def _summary(rows: list[tuple[bool, int, bool]]) -> dict:
    n = len(rows)
    return {
        "n": n,
        "accuracy": sum(c for c, _, _ in rows) / n if n else None,
        "mean_tokens": sum(t for _, t, _ in rows) / n if n else None,
        "truncated": sum(x for _, _, x in rows) / n if n else None,
    }


def evaluate(model, tokenizer, problems: Sequence[Problem], mode: Mode, cfg: Config, *, dataset: str,
             should_stop: Callable[[], bool] = lambda: False) -> dict:
    """One sample per problem (pass@1) at the eval temperature (greedy when it is 0).
    A `tier:<b>` mode of an l1-exact run asks as L1 was trained to: `Think for <b> tokens.`"""
    if cfg.uses_length_targets and isinstance(mode, int):
        prompts = [build_prompt(tokenizer, p.problem, None, cfg.prompt, target=mode) for p in problems]
    else:
        prompts = [build_prompt(tokenizer, p.problem, mode, cfg.prompt) for p in problems]
    gen = dataclasses.replace(cfg.generation, temperature=cfg.eval.temperature or 1.0,
                              top_p=cfg.eval.top_p, top_k=0)
    limit = cfg.eval.max_tokens or cfg.max_response_tokens
    outputs, stats = generate(model, tokenizer, prompts, max_new_tokens=limit, gen=gen,
                              greedy=cfg.eval.temperature == 0, should_stop=should_stop)
    eos = tokenizer.eos_token_id
    rows, by_difficulty = [], {}
    for problem, (_, response) in zip(problems, outputs):
        text = tokenizer.decode(response, skip_special_tokens=True)
        truncated = not (response and response[-1] == eos) and len(response) >= limit
        row = (grade(text, problem.answer).correct and not truncated, len(response), truncated)
        rows.append(row)
        by_difficulty.setdefault(problem.difficulty or "all", []).append(row)
    summary = _summary(rows)
    return {
        "dataset": dataset, "mode": mode_key(mode), **summary,
        "by_difficulty": {k: {x: v for x, v in _summary(r).items() if x != "truncated"}
                          for k, r in sorted(by_difficulty.items())},
        "tokens_per_s": stats.tokens / stats.seconds if stats.seconds else None,
    }
