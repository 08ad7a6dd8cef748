"""Advantage estimators, registered by name (verl's core_algos habit): one word in a config.

Each estimator sees one query's rollouts: `rewards` (shape [n]) and `budgets` (shape [n], the tier
of each rollout, None in natural mode), and returns per-rollout `intra`, `inter` and `total`
(shape [n] each). The trainer broadcasts `total` to every response token of the rollout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence


@dataclass(frozen=True)
class AdvantageParams:
    L_max: int
    beta: float
    eps: float = 1e-6


@dataclass(frozen=True)
class Advantages:
    intra: list[float]
    inter: list[float]
    total: list[float]


def group_normalized(rewards: Sequence[float], eps: float) -> list[float]:
    """(R - mean(R)) / (std(R) + eps) with the unbiased (n-1) std, as verl and the released HBPO
    code compute it. All-equal rewards, or a single rollout, carry no signal: 0."""
    n = len(rewards)
    if n < 2 or all(r == rewards[0] for r in rewards):
        return [0.0] * n
    mean = sum(rewards) / n
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / (n - 1))
    return [(r - mean) / (std + eps) for r in rewards]


def intra_tier(rewards: Sequence[float], budgets: Sequence[int | None], p: AdvantageParams) -> list[float]:
    """A_intra for each rollout: mean reward of its tier minus the tier's ceiling f2(b).

    Never positive: a tier is judged against the best it could have earned."""
    sums: dict[int | None, list[float]] = {}
    for r, b in zip(rewards, budgets):
        sums.setdefault(b, []).append(r)
    out = []
    for b in budgets:
        if b is None:
            raise ValueError("the hbpo estimator needs a budget tier for every rollout")
        tier = sums[b]
        ceiling = p.beta * math.cos(math.pi * b / (2 * p.L_max))
        out.append(sum(tier) / len(tier) - ceiling)
    return out


EstimatorFn = Callable[[Sequence[float], Sequence["int | None"], AdvantageParams], Advantages]
ESTIMATORS: dict[str, EstimatorFn] = {}


def register_estimator(name: str):
    """Register an advantage estimator under `name` (a config's `advantage.name`); a name is taken once."""
    def wrap(fn: EstimatorFn) -> EstimatorFn:
        if name in ESTIMATORS:
            raise ValueError(f"advantage estimator '{name}' is already registered (by {ESTIMATORS[name].__name__})")
        ESTIMATORS[name] = fn
        return fn
    return wrap


@register_estimator("hbpo")
def hbpo_advantage(rewards, budgets, p: AdvantageParams) -> Advantages:
    """A = A_intra + A_inter (the paper)."""
    intra = intra_tier(rewards, budgets, p)
    inter = group_normalized(rewards, p.eps)
    return Advantages(intra, inter, [a + e for a, e in zip(intra, inter)])


@register_estimator("hbpo-reference")
def hbpo_reference_advantage(rewards, budgets, p: AdvantageParams) -> Advantages:
    """A = 2 A_intra + A_inter: reproduces the released code, which adds A_intra twice (a bug)."""
    intra = intra_tier(rewards, budgets, p)
    inter = group_normalized(rewards, p.eps)
    return Advantages(intra, inter, [2 * a + e for a, e in zip(intra, inter)])


@register_estimator("grpo")
def grpo_advantage(rewards, budgets, p: AdvantageParams) -> Advantages:
    """GRPO: group-normalized reward over all of the query's rollouts; no tier term."""
    inter = group_normalized(rewards, p.eps)
    return Advantages([0.0] * len(rewards), inter, list(inter))


def compute_advantages(name: str, rewards: Sequence[float], budgets: Sequence[int | None],
                       p: AdvantageParams) -> Advantages:
    try:
        fn = ESTIMATORS[name]
    except KeyError:
        raise ValueError(f"unknown advantage estimator '{name}' (known: {', '.join(ESTIMATORS)})") from None
    return fn(rewards, budgets, p)
