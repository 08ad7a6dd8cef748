"""The Python budget math against the shared vectors (the TypeScript suite reads the same files)."""

import json

import pytest

from conftest import VECTORS
from hbpo.advantage import AdvantageParams, compute_advantages
from hbpo.reward import RewardParams, compute_reward

REWARD_CASES = json.loads((VECTORS / "reward.json").read_text())["cases"]
ADVANTAGE_CASES = json.loads((VECTORS / "advantage.json").read_text())["cases"]


@pytest.mark.parametrize("case", REWARD_CASES, ids=[c["name"] for c in REWARD_CASES])
def test_reward_vector(case):
    p = RewardParams(L_max=case["L_max"], alpha=case["alpha"], beta=case["beta"],
                     variant=case.get("variant", "paper"))
    got = compute_reward(case["reward"], case["n_gen"], case["budget"], case["correct"], case["truncated"], p)
    want = case["expected"]
    assert got.case == want["case"]
    for key in ("reward", "cos", "penalty", "f1", "f2"):
        if want[key] is None:
            assert getattr(got, key) is None, key
        else:
            assert getattr(got, key) == pytest.approx(want[key], abs=1e-9), key


@pytest.mark.parametrize("case", ADVANTAGE_CASES, ids=[c["name"] for c in ADVANTAGE_CASES])
def test_advantage_vector(case):
    p = AdvantageParams(L_max=case["L_max"], beta=case["beta"], eps=case["eps"])
    got = compute_advantages(case["estimator"], case["rewards"], case["budgets"], p)
    for key in ("intra", "inter", "total"):
        assert getattr(got, key) == pytest.approx(case["expected"][key], abs=1e-9), key


def test_vectors_cover_what_the_design_asks_for():
    names = " ".join(c["name"] for c in REWARD_CASES)
    for b in (512, 1024, 2048, 2560):
        for n in (b - 1, b, b + 1):
            assert f"b={b} n={n} correct" in names
    assert {c["expected"]["case"] for c in REWARD_CASES} >= {"truncated", "wrong", "within", "over"}
    assert {c.get("variant") for c in REWARD_CASES} >= {"paper", "reference"}
    adv = " ".join(c["name"] for c in ADVANTAGE_CASES)
    for needle in ("ties", "all rewards equal", "single tier"):
        assert needle in adv


def test_intra_is_never_positive_and_paper_differs_from_reference_only_when_short():
    p = RewardParams(L_max=4096, alpha=1 / 4096, beta=4.0, variant="paper")
    r = RewardParams(L_max=4096, alpha=1 / 4096, beta=4.0, variant="reference")
    # far shorter than the budget: paper pays the ceiling, reference subtracts the deviation
    assert compute_reward("hbpo", 10, 512, True, False, p).reward > compute_reward("hbpo", 10, 512, True, False, r).reward
    # over budget both pay f1
    assert compute_reward("hbpo", 3000, 2560, True, False, p).reward == compute_reward("hbpo", 3000, 2560, True, False, r).reward
    ap = AdvantageParams(L_max=4096, beta=4.0)
    a = compute_advantages("hbpo", [3.9, 0.0, 3.0, 3.5], [512, 512, 1024, 1024], ap)
    assert all(x <= 0 for x in a.intra)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown reward 'nope'"):
        compute_reward("nope", 1, 512, True, False, RewardParams(4096, 1 / 4096, 4.0))
    with pytest.raises(ValueError, match="unknown advantage estimator 'nope'"):
        compute_advantages("nope", [1.0], [512], AdvantageParams(4096, 4.0))
