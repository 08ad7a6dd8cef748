"""Hierarchical rollouts: for each query, n/k samples under each budget tier, generated together.

All prompts of a step (queries x tiers x samples) go through batched, KV-cached `generate`
calls of `generation.batch_size` sequences; tiers are mixed within a batch, not run one by one.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from .config import Config, GenerationConfig
from .data import Problem
from .modes import Mode
from .prompts import build_prompt


@dataclass
class Rollout:
    query_index: int  # position of the query in this step's batch
    problem: Problem
    tier: Mode | None  # budget (or l1-exact target) in tokens, "natural"/"efficiency" (eval), or None (natural)
    sample: int  # index within its (query, tier) group
    prompt: str
    prompt_ids: list[int]
    response_ids: list[int]  # generated tokens, EOS included when produced
    text: str  # decoded response, special tokens kept out
    n_gen: int
    truncated: bool  # no EOS within the token limit
    token_marks: list[list[int]]  # [tokens, chars] pairs, see `token_marks`


@dataclass
class GenerationStats:
    tokens: int
    seconds: float


class _StopWhen:
    """A transformers StoppingCriteria that ends generation when asked (SIGTERM mid-step)."""

    def __init__(self, should_stop: Callable[[], bool]):
        self.should_stop = should_stop

    def __call__(self, input_ids, scores, **kwargs):
        return torch.full((input_ids.shape[0],), self.should_stop(), dtype=torch.bool, device=input_ids.device)


@torch.no_grad()
def generate(model, tokenizer, prompts: Sequence[str], *, max_new_tokens: int, gen: GenerationConfig,
             greedy: bool = False, should_stop: Callable[[], bool] = lambda: False,
             seed: int | None = None, positions: Sequence[int] | None = None,
             ) -> tuple[list[tuple[list[int], list[int]]], GenerationStats]:
    """(prompt_ids, response_ids) per prompt, in order, and throughput figures.

    `seed`: each batch of `gen.batch_size` prompts samples from the torch RNG seeded with `seed` and
    the place of the batch's first prompt among the step's (`positions[i]`: prompt i's place; by
    default its index), so a batch's samples do not depend on what ran before it: a rank generating
    its share of a step's prompts draws what one process generating them all would, batch for batch,
    when its batches are the same prompts (see README, "Many GPUs")."""
    from transformers import StoppingCriteriaList

    device = next(model.parameters()).device
    eos = tokenizer.eos_token_id
    results: list[tuple[list[int], list[int]]] = []
    produced, started = 0, time.perf_counter()
    was_training = model.training
    model.eval()
    for start in range(0, len(prompts), gen.batch_size):
        chunk = list(prompts[start:start + gen.batch_size])
        if seed is not None:
            torch.manual_seed((seed + 1_000_003 * (positions[start] if positions else start)) % 2**63)
        enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        sampling = {} if greedy else dict(temperature=gen.temperature, top_p=gen.top_p, top_k=gen.top_k or None)
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=not greedy, **sampling,
                             eos_token_id=eos, pad_token_id=tokenizer.pad_token_id, use_cache=True,
                             stopping_criteria=StoppingCriteriaList([_StopWhen(should_stop)]))
        width = enc["input_ids"].shape[1]
        for row, mask in zip(out.tolist(), enc["attention_mask"].tolist()):
            prompt_ids = [t for t, m in zip(row[:width], mask) if m]
            response = row[width:]
            if eos in response:
                response = response[:response.index(eos) + 1]
            else:  # strip right padding after an early stop of the whole batch
                while response and response[-1] == tokenizer.pad_token_id:
                    response.pop()
            results.append((prompt_ids, response))
            produced += len(response)
        if should_stop():
            break
    model.train(was_training)
    return results, GenerationStats(produced, time.perf_counter() - started)


def hierarchical_rollouts(model, tokenizer, problems: Sequence[Problem], cfg: Config, *,
                          should_stop: Callable[[], bool] = lambda: False, queries: Sequence[int] | None = None,
                          seed: int | None = None) -> tuple[list[Rollout], GenerationStats]:
    """n rollouts per query, n/k under each tier (one natural group for budget-free baselines).

    `queries`: generate only the rollouts of these query indices (a rank's share of the step); the
    plan, and every random draw it makes, still covers all of `problems`, so every rank's RNG stays
    in step. `seed`: see `generate`.

    Method l1-exact: one group per query under a target length drawn uniformly from
    [reward.target_min, reward.target_max] with the run's seeded `random` (its state is in every
    checkpoint, so a resumed run draws the same targets); the target is the rollouts' `tier`."""
    tiers = cfg.rollout_tiers
    per_tier = cfg.rollouts_per_query // len(tiers)
    plan = []
    for qi, problem in enumerate(problems):
        if cfg.uses_length_targets:
            target = random.randint(cfg.reward.target_min, cfg.reward.target_max)
            prompt = build_prompt(tokenizer, problem.problem, None, cfg.prompt, target=target)
            plan += [(qi, problem, target, s, prompt) for s in range(cfg.rollouts_per_query)]
            continue
        for tier in tiers:
            prompt = build_prompt(tokenizer, problem.problem, tier, cfg.prompt)
            plan += [(qi, problem, tier, s, prompt) for s in range(per_tier)]
    positions = list(range(len(plan)))
    if queries is not None:
        # This rank's queries, in the order given (its slice of each mini-batch), each with its place.
        by_query: dict[int, list[int]] = {}
        for i, p in enumerate(plan):
            by_query.setdefault(p[0], []).append(i)
        positions = [i for q in queries for i in by_query.get(q, [])]
        plan = [plan[i] for i in positions]
    outputs, stats = generate(model, tokenizer, [p[4] for p in plan], max_new_tokens=cfg.max_response_tokens,
                              gen=cfg.generation, should_stop=should_stop, seed=seed, positions=positions)
    return [to_rollout(tokenizer, *p, *o, cfg.max_response_tokens,
                       marks_at=[p[2], *cfg.tiers] if cfg.uses_length_targets else cfg.tiers)
            for p, o in zip(plan, outputs)], stats


MARK_EVERY = 32  # tokens between two regular token marks
MARK_CONTEXT = 8  # tokens decoded before each segment of token_marks (see there)


def token_marks(tokenizer, response_ids: Sequence[int], marks_at: Sequence[int] = ()) -> list[list[int]]:
    """Where tokens fall in the decoded text, for editors that annotate it: [tokens, chars] pairs,
    ascending, meaning "the first `tokens` generated tokens decode to the first `chars` characters".
    Marks sit at every multiple of MARK_EVERY, at each of `marks_at` (the tier budgets, so a tier
    crossing is exact) and at the end. Offsets come from the tokenizer, never from guessing at
    characters; a prefix ending inside a multi-byte character is clamped (it counts as decoded).

    Decoding every prefix costs O(n^2) (67 ms for 4096 tokens); instead each mark adds the length of
    the tokens since the previous one, decoded after MARK_CONTEXT tokens of context, so a tokenizer's
    start-of-text handling (a stripped leading space) or a character cut at the context's start
    cancels out. Where a segment ends inside a character (a U+FFFD at its end) that mark is decoded
    from the start, and the last mark is the whole text: the same figures as prefix decoding."""
    ids = list(response_ids)
    n = len(ids)
    points = sorted({t for t in range(MARK_EVERY, n, MARK_EVERY)} | {t for t in marks_at if 0 < t < n} | {n})

    def length(a: int, b: int) -> tuple[int, bool]:
        text = tokenizer.decode(ids[a:b], skip_special_tokens=True) if b > a else ""
        return len(text), text.endswith("\ufffd")

    full = length(0, n)[0]
    marks, prev, chars = [], 0, 0
    for t in points:
        if t == n:
            chars = full
        else:
            lo = max(0, prev - MARK_CONTEXT)
            seg, cut = length(lo, t)
            before, cut_before = length(lo, prev)
            chars = length(0, t)[0] if cut or cut_before else chars + seg - before
        marks.append([t, min(chars, full)])
        prev = t
    return marks


def to_rollout(tokenizer, qi, problem, tier, sample, prompt, prompt_ids, response_ids, limit, *,
               marks_at: Sequence[int] = ()) -> Rollout:
    eos = tokenizer.eos_token_id
    ended = bool(response_ids) and response_ids[-1] == eos
    text = tokenizer.decode(response_ids, skip_special_tokens=True)
    return Rollout(qi, problem, tier, sample, prompt, prompt_ids, response_ids, text,
                   n_gen=len(response_ids), truncated=not ended and len(response_ids) >= limit,
                   token_marks=token_marks(tokenizer, response_ids, marks_at))
