"""Rewards, registered by name: the budget-aware piecewise cosine reward of HBPO and its baselines.

All lengths are in tokens. `n` is `n_gen`: tokens generated after the prompt (the budget sentence
is part of the prompt, so it is excluded; EOS is included). `b` is the rollout's budget tier, or
None for natural mode. Every function returns the full breakdown so the UI can show *why* a rollout
got its reward, including what a wrong answer would have earned.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable


@dataclass(frozen=True)
class RewardParams:
    L_max: int  # training context for the response, tokens
    alpha: float  # deviation penalty per token (default 1 / L_max; 0.0003 for l1-exact)
    beta: float  # cosine amplitude (default 4)
    variant: str = "paper"  # hbpo only: "paper" | "reference"


@dataclass(frozen=True)
class RewardBreakdown:
    reward: float  # what training uses
    cos: float  # beta * cos(pi * n / (2 L_max))
    penalty: float | None  # alpha * |n - b|
    f1: float | None  # cos - penalty
    f2: float | None  # beta * cos(pi * b / (2 L_max)): the tier's ceiling
    case: str  # truncated | wrong | within | over | natural

    def to_dict(self) -> dict:
        return asdict(self)


def cosine_term(n: int, p: RewardParams) -> float:
    """beta * cos(pi * n / (2 L_max)); n is clamped to L_max (beyond it the answer is truncated)."""
    return p.beta * math.cos(math.pi * min(n, p.L_max) / (2 * p.L_max))


def f2(b: int, p: RewardParams) -> float:
    """The reward ceiling of tier b: beta * cos(pi * b / (2 L_max))."""
    return p.beta * math.cos(math.pi * b / (2 * p.L_max))


def f1(n: int, b: int, p: RewardParams) -> float:
    """beta * cos(pi * n / (2 L_max)) - alpha * |n - b|."""
    return cosine_term(n, p) - p.alpha * abs(n - b)


def _terms(n: int, b: int | None, correct: bool, truncated: bool, p: RewardParams):
    truncated = truncated or n > p.L_max
    cos = cosine_term(n, p)
    if b is None:
        penalty = f1_value = f2_value = None
    else:
        penalty = p.alpha * abs(n - b)
        f1_value, f2_value = cos - penalty, f2(b, p)
    if truncated:
        case = "truncated"
    elif not correct:
        case = "wrong"
    elif b is None:
        case = "natural"
    else:
        case = "within" if n <= b else "over"
    return case, cos, penalty, f1_value, f2_value


RewardFn = Callable[[int, "int | None", bool, bool, RewardParams], RewardBreakdown]
REWARDS: dict[str, RewardFn] = {}
REWARD_VARIANTS = ("paper", "reference")


def register_reward(name: str):
    """Register a reward under `name` (the word a config's `reward.name` uses); a name is taken once."""
    def wrap(fn: RewardFn) -> RewardFn:
        if name in REWARDS:
            raise ValueError(f"reward '{name}' is already registered (by {REWARDS[name].__name__})")
        REWARDS[name] = fn
        return fn
    return wrap


def _need_budget(name: str, b: int | None) -> int:
    if b is None:
        raise ValueError(f"reward '{name}' needs a budget tier for every rollout")
    return b


@register_reward("hbpo")
def hbpo_reward(n: int, b: int | None, correct: bool, truncated: bool, p: RewardParams) -> RewardBreakdown:
    """Budget-aware piecewise cosine reward (HBPO, docs/ARCHITECTURE.md, "The algorithm").

    paper:     correct and n <= b -> f2(b); correct and n > b -> f1(n, b)
    reference: min(f1, f2) for every correct, untruncated answer (the authors' released code)
    wrong, unanswered or truncated (n > L_max) -> 0
    """
    b = _need_budget("hbpo", b)
    case, cos, penalty, f1_v, f2_v = _terms(n, b, correct, truncated, p)
    if case in ("truncated", "wrong"):
        value = 0.0
    elif p.variant == "reference":
        value = min(f1_v, f2_v)
    else:
        value = f2_v if case == "within" else f1_v
    return RewardBreakdown(value, cos, penalty, f1_v, f2_v, case)


@register_reward("binary")
def binary_reward(n: int, b: int | None, correct: bool, truncated: bool, p: RewardParams) -> RewardBreakdown:
    """GRPO's outcome reward: 1 when correct (and not truncated), else 0."""
    case, cos, penalty, f1_v, f2_v = _terms(n, b, correct, truncated, p)
    value = 0.0 if case in ("truncated", "wrong") else 1.0
    return RewardBreakdown(value, cos, penalty, f1_v, f2_v, case)


@register_reward("cosine")
def cosine_reward(n: int, b: int | None, correct: bool, truncated: bool, p: RewardParams) -> RewardBreakdown:
    """Length-cosine reward without budgets: beta * cos(pi * n / (2 L_max)) when correct."""
    case, cos, penalty, f1_v, f2_v = _terms(n, b, correct, truncated, p)
    value = 0.0 if case in ("truncated", "wrong") else cos
    return RewardBreakdown(value, cos, penalty, f1_v, f2_v, case)


@register_reward("l1-exact")
def l1_exact_reward(n: int, b: int | None, correct: bool, truncated: bool, p: RewardParams) -> RewardBreakdown:
    """L1's exact-length reward (Aggarwal & Welleck 2025, LCPO-Exact): 1[correct] - alpha * |b - n|.

    b is the target length the prompt asked for (method l1-exact draws one per query; with method
    hbpo it is the rollout's tier). The penalty applies to every rollout: a wrong, unanswered or
    truncated one earns -alpha * |b - n|, not 0 (L1's alpha is 0.0003, the default for this reward).
    """
    b = _need_budget("l1-exact", b)
    case, cos, penalty, f1_v, f2_v = _terms(n, b, correct, truncated, p)
    value = (0.0 if case in ("truncated", "wrong") else 1.0) - penalty
    return RewardBreakdown(value, cos, penalty, f1_v, f2_v, case)


def compute_reward(name: str, n: int, b: int | None, correct: bool, truncated: bool,
                   p: RewardParams) -> RewardBreakdown:
    try:
        fn = REWARDS[name]
    except KeyError:
        raise ValueError(f"unknown reward '{name}' (known: {', '.join(REWARDS)})") from None
    return fn(n, b, correct, truncated, p)
