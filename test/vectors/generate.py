"""Write reward.json and advantage.json from the formulas in docs/ARCHITECTURE.md ("The algorithm"), restated with plain `math`.

Deliberately independent of the trainer package: the vectors are an outside opinion that the
Python and TypeScript implementations must both match. Run: python test/vectors/generate.py
"""

import json
import math
from pathlib import Path

HERE = Path(__file__).resolve().parent
TIERS = (512, 1024, 2048, 2560)
L_MAX = 4096
BETA = 4.0
ALPHA = 1.0 / L_MAX
L1_ALPHA = 0.0003  # L1's (Aggarwal & Welleck 2025) length penalty per token


def terms(n, b, L, alpha, beta):
    cos = beta * math.cos(math.pi * min(n, L) / (2 * L))
    if b is None:
        return cos, None, None, None
    penalty = alpha * abs(n - b)
    f2 = beta * math.cos(math.pi * b / (2 * L))
    return cos, penalty, cos - penalty, f2


def expected_reward(reward, variant, n, b, correct, truncated, L, alpha, beta):
    truncated = truncated or n > L
    cos, penalty, f1, f2 = terms(n, b, L, alpha, beta)
    if truncated:
        case, value = "truncated", 0.0
    elif not correct:
        case, value = "wrong", 0.0
    elif b is None:
        case = "natural"
    else:
        case = "within" if n <= b else "over"
    if reward == "l1-exact":
        # L1 (Aggarwal & Welleck 2025, LCPO-Exact): r = 1[correct] - alpha * |n_target - n|; the
        # penalty applies to wrong and truncated answers too.
        value = (0.0 if case in ("truncated", "wrong") else 1.0) - alpha * abs(b - n)
    elif case in ("truncated", "wrong"):
        pass
    elif reward == "binary":
        value = 1.0
    elif reward == "cosine":
        value = cos
    elif variant == "paper":
        value = f2 if n <= b else f1
    else:  # reference: min(f1, f2) for every correct, untruncated answer
        value = min(f1, f2)
    return {"reward": value, "cos": cos, "penalty": penalty, "f1": f1, "f2": f2, "case": case}


def reward_cases():
    cases = []

    def add(name, reward, n, b, correct=True, truncated=False, variant=None, L=L_MAX, alpha=ALPHA, beta=BETA):
        case = {"name": name, "reward": reward}
        if variant:
            case["variant"] = variant
        case.update({"n_gen": n, "budget": b, "correct": correct, "truncated": truncated,
                     "L_max": L, "alpha": alpha, "beta": beta})
        case["expected"] = expected_reward(reward, variant, n, b, correct, truncated, L, alpha, beta)
        cases.append(case)

    for variant in ("paper", "reference"):
        for b in TIERS:
            for n in (1, b // 4, b - 1, b, b + 1, b + 64, L_MAX - 1, L_MAX):
                add(f"{variant}: b={b} n={n} correct", "hbpo", n, b, variant=variant)
            add(f"{variant}: b={b} wrong at the budget", "hbpo", b, b, correct=False, variant=variant)
            add(f"{variant}: b={b} truncated (n > L_max)", "hbpo", L_MAX + 1, b, variant=variant)
            add(f"{variant}: b={b} truncated flag at L_max", "hbpo", L_MAX, b, truncated=True, variant=variant)
        # the testbed's scaled tiers, and non-default alpha / beta
        for b in (32, 64, 128, 160):
            for n in (5, b, b + 1, 256):
                add(f"{variant}: testbed b={b} n={n}", "hbpo", n, b, variant=variant, L=256, alpha=1 / 256)
        add(f"{variant}: beta=2 alpha=0.01", "hbpo", 700, 512, variant=variant, beta=2.0, alpha=0.01)
        add(f"{variant}: alpha=0 over budget", "hbpo", 3000, 2560, variant=variant, alpha=0.0)
    for n in (1, 1000, 4095):
        add(f"cosine n={n}", "cosine", n, None)
        add(f"binary n={n}", "binary", n, None)
        add(f"l1-exact n={n} b=1024", "l1-exact", n, 1024)
    add("cosine wrong", "cosine", 100, None, correct=False)
    add("binary wrong", "binary", 100, None, correct=False)
    add("binary truncated", "binary", 4097, None)
    # L1: the target is drawn per prompt from [100, 4000], alpha = 0.0003; wrong answers keep the penalty
    for target in (100, 1234, 4000):
        for n in (1, target, target + 1, 4096):
            for correct in (True, False):
                add(f"l1-exact alpha=0.0003 target={target} n={n} {'correct' if correct else 'wrong'}",
                    "l1-exact", n, target, correct=correct, alpha=L1_ALPHA)
    add("l1-exact truncated", "l1-exact", 4096, 1024, truncated=True)
    add("l1-exact truncated (n > L_max), alpha=0.0003", "l1-exact", 4097, 1000, alpha=L1_ALPHA)
    add("l1-exact wrong at the target: 0", "l1-exact", 1024, 1024, correct=False)
    return cases


def expected_advantage(estimator, budgets, rewards, L, beta, eps):
    n = len(rewards)
    mean = sum(rewards) / n
    if n > 1:
        std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / (n - 1))
    else:
        std = 0.0
    if n == 1 or all(r == rewards[0] for r in rewards):
        inter = [0.0] * n
    else:
        inter = [(r - mean) / (std + eps) for r in rewards]
    if estimator == "grpo":
        intra = [0.0] * n
    else:
        intra = []
        for b in budgets:
            tier = [r for r, bb in zip(rewards, budgets) if bb == b]
            intra.append(sum(tier) / len(tier) - beta * math.cos(math.pi * b / (2 * L)))
    times = 2 if estimator == "hbpo-reference" else 1
    total = [times * a + e for a, e in zip(intra, inter)]
    return {"intra": intra, "inter": inter, "total": total}


def advantage_cases():
    cases = []
    f2 = {b: BETA * math.cos(math.pi * b / (2 * L_MAX)) for b in TIERS}

    def add(name, estimator, budgets, rewards, L=L_MAX, beta=BETA, eps=1e-6):
        cases.append({"name": name, "estimator": estimator, "budgets": budgets, "rewards": rewards,
                      "beta": beta, "L_max": L, "eps": eps,
                      "expected": expected_advantage(estimator, budgets, rewards, L, beta, eps)})

    four = [b for b in TIERS for _ in range(4)]
    mixed = []
    for b in TIERS:  # two at the ceiling, one over budget, one wrong per tier
        over = BETA * math.cos(math.pi * (b + 200) / (2 * L_MAX)) - 200 / L_MAX
        mixed += [f2[b], f2[b], over, 0.0]
    for est in ("hbpo", "hbpo-reference", "grpo"):
        add(f"{est}: 16 rollouts, 4 tiers, mixed outcomes", est, four, mixed)
        add(f"{est}: all wrong (all rewards equal)", est, four, [0.0] * 16)
        add(f"{est}: every rollout at its ceiling", est, four, [f2[b] for b in four])
        add(f"{est}: ties across tiers", est, four, [1.0, 1.0, 0.0, 0.0] * 4)
    add("hbpo: single tier", "hbpo", [1536] * 8, [f2[1024], 0.0, 3.0, 3.0, 0.0, 2.5, 2.5, 1.0])
    add("hbpo: one rollout", "hbpo", [512], [3.5])
    add("hbpo: dual budget", "hbpo", [512] * 4 + [2560] * 4, [3.9, 0, 3.9, 3.8, 2.0, 2.2, 0, 0])
    add("grpo: natural mode", "grpo", [None] * 6, [1, 0, 1, 1, 0, 0])
    add("hbpo: testbed scale", "hbpo", [32, 32, 64, 64, 128, 128, 160, 160],
        [3.98, 0, 3.9, 3.8, 0, 3.5, 3.2, 3.1], L=256)
    return cases


def main():
    for name, cases in (("reward.json", reward_cases()), ("advantage.json", advantage_cases())):
        path = HERE / name
        path.write_text(json.dumps({"cases": cases}, indent=1) + "\n")
        print(f"wrote {len(cases)} cases to {path}")


if __name__ == "__main__":
    main()
