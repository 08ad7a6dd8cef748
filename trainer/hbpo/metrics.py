"""Per-step metrics, namespaced per tier the way TRL namespaces its keys.

    budget/<b>/mean_length, length_std, min_length, max_length, accuracy, reward, reward/f1,
    reward/f2, over_budget, truncated, advantage/intra, advantage/inter
    budget/natural/...   for budget-free baselines
    target/mean, target/abs_error, target/over   for l1-exact, whose tier is each query's drawn
                         target: one namespace per target would be one per query, so none
"""

from __future__ import annotations

import statistics
from typing import Sequence

from .prompts import mode_label


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _std(xs: Sequence[float]) -> float | None:
    return statistics.pstdev(xs) if xs else None


def rollout_metrics(scored: Sequence[dict], *, targets: bool = False) -> dict[str, float | None]:
    """`scored` are rollout events (dicts with tier, n_gen, correct, reward{}, advantage{}).
    `targets`: the tiers are l1-exact's per-query target lengths (target/* instead of budget/*)."""
    out: dict[str, float | None] = {}
    by_tier: dict[str, list[dict]] = {}
    if not targets:
        for r in scored:
            by_tier.setdefault(mode_label(r["tier"]), []).append(r)
    else:
        out["target/mean"] = _mean([r["tier"] for r in scored])
        out["target/abs_error"] = _mean([abs(r["n_gen"] - r["tier"]) for r in scored])
        out["target/over"] = _mean([float(r["n_gen"] > r["tier"]) for r in scored])
    for label, group in by_tier.items():
        lengths = [r["n_gen"] for r in group]
        key = f"budget/{label}"
        out[f"{key}/mean_length"] = _mean(lengths)
        out[f"{key}/length_std"] = _std(lengths)
        out[f"{key}/min_length"] = float(min(lengths))
        out[f"{key}/max_length"] = float(max(lengths))
        out[f"{key}/accuracy"] = _mean([float(r["correct"]) for r in group])
        out[f"{key}/reward"] = _mean([r["reward"]["reward"] for r in group])
        out[f"{key}/truncated"] = _mean([float(r["truncated"]) for r in group])
        if group[0]["tier"] is not None:
            out[f"{key}/reward/f1"] = _mean([r["reward"]["f1"] for r in group])
            out[f"{key}/reward/f2"] = group[0]["reward"]["f2"]
            out[f"{key}/over_budget"] = _mean([float(r["n_gen"] > r["tier"]) for r in group])
        out[f"{key}/advantage/intra"] = _mean([r["advantage"]["intra"] for r in group])
        out[f"{key}/advantage/inter"] = _mean([r["advantage"]["inter"] for r in group])
    rewards = [r["reward"]["reward"] for r in scored]
    out["reward/mean"] = _mean(rewards)
    out["reward/std"] = _std(rewards)
    out["accuracy"] = _mean([float(r["correct"]) for r in scored])
    out["length/mean"] = _mean([r["n_gen"] for r in scored])
    out["length/std"] = _std([r["n_gen"] for r in scored])
    return out
