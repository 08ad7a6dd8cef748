"""Deterministic multi-step arithmetic problems with graded difficulty.

Harder problems chain more operations, so a correct solution needs more intermediate steps.
`testbed:<split>` in a config names a split: train, val or test.
"""

from __future__ import annotations

import random

from ..data import Problem

GENERATOR_VERSION = 1
DIFFICULTIES = {"easy": (1, 1), "medium": (2, 3), "hard": (4, 5)}
SPLITS = {"train": (0, 2000), "val": (1, 200), "test": (2, 300)}  # (seed offset, size)


def make_problem(rng: random.Random, difficulty: str, index: int, split: str) -> Problem:
    lo, hi = DIFFICULTIES[difficulty]
    value = rng.randint(2, 20)
    expr = str(value)
    for step in range(rng.randint(lo, hi)):
        op = rng.choice("+-*")
        operand = rng.randint(2, 9) if op == "*" else rng.randint(1, 30)
        expr = f"{expr} {op} {operand}" if step == 0 else f"({expr}) {op} {operand}"
        value = {"+": value + operand, "-": value - operand, "*": value * operand}[op]
    return Problem(id=f"testbed-{split}-{index}", problem=f"Compute {expr}.", answer=str(value),
                   difficulty=difficulty, source=f"testbed:{split}")


def generate_split(split: str, *, seed: int = 0) -> list[Problem]:
    if split not in SPLITS:
        raise ValueError(f"unknown testbed split '{split}' (known: {', '.join(SPLITS)})")
    offset, size = SPLITS[split]
    rng = random.Random(f"hbpo-testbed-v{GENERATOR_VERSION}-{seed}-{offset}")
    names = list(DIFFICULTIES)
    return [make_problem(rng, names[i % len(names)], i, split) for i in range(size)]
