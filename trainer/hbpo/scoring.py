"""Grade rollouts, reward them, and compute each query's advantages."""

from __future__ import annotations

from typing import Sequence

from .advantage import AdvantageParams, compute_advantages
from .config import Config
from .grading import grade
from .reward import RewardParams, compute_reward
from .rollout import Rollout


def score(rollouts: Sequence[Rollout], cfg: Config) -> list[dict]:
    """One rollout-event payload per rollout: grading, reward breakdown and advantages.

    `cfg` must be resolved (`config.resolved`): reward and estimator names filled in."""
    rp = RewardParams(L_max=cfg.max_response_tokens, alpha=cfg.alpha, beta=cfg.reward.beta,
                      variant=cfg.reward.variant)
    ap = AdvantageParams(L_max=cfg.max_response_tokens, beta=cfg.reward.beta, eps=cfg.advantage.eps)
    scored = []
    for r in rollouts:
        g = grade(r.text, r.problem.answer)
        br = compute_reward(cfg.reward.name, r.n_gen, r.tier, g.correct, r.truncated, rp)
        scored.append({
            "query_id": r.problem.id, "query_index": r.query_index, "sample": r.sample, "tier": r.tier,
            "problem": r.problem.problem, "difficulty": r.problem.difficulty, "prompt": r.prompt,
            "text": r.text, "token_marks": r.token_marks, "n_gen": r.n_gen, "truncated": r.truncated, "correct": g.correct,
            "answer": g.extracted, "ground_truth": r.problem.answer, "reward": br.to_dict(),
        })
    by_query: dict[int, list[int]] = {}
    for i, s in enumerate(scored):
        by_query.setdefault(s["query_index"], []).append(i)
    for members in by_query.values():
        adv = compute_advantages(cfg.advantage.name, [scored[i]["reward"]["reward"] for i in members],
                                 [scored[i]["tier"] for i in members], ap)
        for k, i in enumerate(members):
            scored[i]["advantage"] = {"intra": adv.intra[k], "inter": adv.inter[k], "total": adv.total[k]}
    return scored
