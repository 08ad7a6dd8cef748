"""Deterministic multi-step arithmetic problems with graded difficulty.

A problem is a chain of named values, each one defined from the one before::

    Let a = 7 + 5, b = a * 3, c = b - 4. What is c?      steps: 7 + 5 = 12, 12 * 3 = 36, 36 - 4 = 32

  Why a named chain and not a nested expression (`((7 + 5) * 3) - 4`, generator version 2): to
  write step k, a model must find the k-th operation in the prompt. In a nested expression that
  means counting parentheses or operands, which a tiny model learns badly (version 2's base model
  solved 7% of 5-6 step problems greedily); with names, `b =` in the prompt is a unique key whose
  continuation the solution copies, the lookup a small transformer learns fast (induction).

- Every operand (the first number included) is 1..9 and every intermediate value stays in 1..99:
  the operation of each step is drawn among those that keep the value in range (`+`, `-`, `*`),
  then its operand among the values that do. No negatives, no zero (with zero allowed, `- 6 = 0`
  then `* 9 = 0` chains made one answer in twelve a 0), no division. So the facts a model needs
  are a small table a tiny model can learn (`87 - 9 = 78`).
- Difficulty is the number of steps: `easy` 1-2, `medium` 3-4, `hard` 5-6 (`DIFFICULTIES`).
  A correct solution writes one line per step, so its length grows with the difficulty.
- Splits (`SPLITS`): `train`, `val`, `test`. Which split an expression belongs to is decided by a
  hash of its text, whatever the seed and size, so no expression is ever in two splits. Within a
  split, items are distinct unless `unique=False` (the SFT data of the tiny model repeats the few
  one-step problems). Items cycle through the asked difficulties (easy, medium, hard, easy, ...),
  so any prefix is balanced.
- Everything is a function of (`GENERATOR_VERSION`, split, seed, size, difficulties). Bump
  `GENERATOR_VERSION` whenever the output for the same arguments changes: the testbed model's
  cache key includes it.

`testbed:<split>` in a config names a split at its default size, seed 0.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..data import Problem

GENERATOR_VERSION = 3
DIFFICULTIES: dict[str, tuple[int, int]] = {"easy": (1, 2), "medium": (3, 4), "hard": (5, 6)}
SPLITS: dict[str, int] = {"train": 3000, "val": 300, "test": 300}  # default sizes
OPERAND_RANGE = (1, 9)
VALUE_RANGE = (1, 99)  # every intermediate value
OPS = ("+", "-", "*")
NAMES = "abcdef"  # the name of step k's value (at most 6 steps)
# Share of the expression space each split owns (hash buckets out of 10).
_BUCKETS = {"train": range(0, 8), "val": range(8, 9), "test": range(9, 10)}
_MAX_ATTEMPTS = 20_000  # consecutive rejected draws before a split is declared exhausted


@dataclass(frozen=True)
class Step:
    left: int
    op: str
    right: int
    result: int

    def equation(self) -> str:
        return f"{self.left} {self.op} {self.right} = {self.result}"


@dataclass(frozen=True)
class Expression:
    """`start` followed by (op, operand) pairs, applied left to right."""

    start: int
    ops: tuple[tuple[str, int], ...]

    def text(self) -> str:
        """The definitions: `a = 7 + 5, b = a * 3, c = b - 4`."""
        return ", ".join(f"{NAMES[k]} = {self.operand_text(k)}" for k in range(len(self.ops)))

    def operand_text(self, k: int) -> str:
        """Step k's definition (0-based) as the problem writes it: `7 + 5`, `a * 3`."""
        op, operand = self.ops[k]
        left = str(self.start) if k == 0 else NAMES[k - 1]
        return f"{left} {op} {operand}"

    @property
    def name(self) -> str:
        """The name the question asks for."""
        return NAMES[len(self.ops) - 1]

    def problem(self) -> str:
        return f"Let {self.text()}. What is {self.name}?"

    def steps(self) -> list[Step]:
        out, value = [], self.start
        for op, operand in self.ops:
            result = apply(value, op, operand)
            out.append(Step(value, op, operand, result))
            value = result
        return out

    @property
    def answer(self) -> int:
        return self.steps()[-1].result


def apply(value: int, op: str, operand: int) -> int:
    if op == "+":
        return value + operand
    if op == "-":
        return value - operand
    if op == "*":
        return value * operand
    raise ValueError(f"op: unknown operation {op!r} (known: {', '.join(OPS)})")


def _in_range(v: int) -> bool:
    return VALUE_RANGE[0] <= v <= VALUE_RANGE[1]


def valid_operands(value: int, op: str) -> list[int]:
    lo, hi = OPERAND_RANGE
    return [o for o in range(lo, hi + 1) if _in_range(apply(value, op, o))]


def random_expression(rng: random.Random, steps: int) -> Expression:
    value = rng.randint(*OPERAND_RANGE)
    start, ops = value, []
    for _ in range(steps):
        op = rng.choice([o for o in OPS if valid_operands(value, o)])
        operand = rng.choice(valid_operands(value, op))
        ops.append((op, operand))
        value = apply(value, op, operand)
    return Expression(start, tuple(ops))


_PROBLEM = re.compile(r"Let (.+)\. What is ([a-f])\?")


def parse_problem(text: str) -> Expression:
    """The expression of a generated problem text (`Let a = 7 + 5, b = a * 3. What is b?`)."""
    m = _PROBLEM.fullmatch(text.strip()) if isinstance(text, str) else None
    if m:
        definitions = m.group(1).split(", ")
        found = [re.fullmatch(r"([a-f]) = (\d+|[a-f]) ([-+*]) (\d+)", d) for d in definitions]
        if all(found) and len(found) <= len(NAMES):
            start = found[0].group(2)
            expr = Expression(int(start) if start.isdigit() else -1,
                              tuple((f.group(3), int(f.group(4))) for f in found))
            if expr.start >= 0 and expr.text() == m.group(1) and expr.name == m.group(2):
                return expr
    raise ValueError(f"problem: not a testbed problem: {text!r}")


def difficulty_of(steps: int) -> str:
    for name, (lo, hi) in DIFFICULTIES.items():
        if lo <= steps <= hi:
            return name
    raise ValueError(f"steps: no difficulty has {steps} steps")


def split_of(expression: str) -> str:
    """The one split that owns an expression text (a hash bucket; independent of any seed)."""
    digest = hashlib.sha256(f"hbpo-testbed:{expression}".encode()).digest()
    bucket = int.from_bytes(digest[:4], "big") % 10
    return next(name for name, buckets in _BUCKETS.items() if bucket in buckets)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed: expected an integer, got {seed!r} ({type(seed).__name__})")
    if seed < 0:
        raise ValueError(f"seed: must be >= 0, got {seed}")
    return seed


def _check_difficulties(difficulties: Iterable[str] | None) -> list[str]:
    if difficulties is None:
        return list(DIFFICULTIES)
    if isinstance(difficulties, str):
        difficulties = [difficulties]
    names = list(difficulties)
    if not names:
        raise ValueError("difficulties: empty; nothing to generate (known: easy, medium, hard)")
    unknown = [d for d in names if d not in DIFFICULTIES]
    if unknown:
        raise ValueError(f"difficulties: unknown difficulty {unknown[0]!r} "
                         f"(known: {', '.join(DIFFICULTIES)})")
    return names


def generate(split: str, size: int | None = None, *, seed: int = 0,
             difficulties: Sequence[str] | str | None = None, unique: bool = True) -> list[Problem]:
    """`size` problems of `split` (default `SPLITS[split]`), cycling through `difficulties`
    (a name listed twice is drawn twice as often).

    Raises ValueError naming the field for an unknown split or difficulty, an empty difficulty
    list, a size below 1, a seed that is not a non-negative int, or a split too small to hold
    `size` distinct problems.
    """
    if split not in SPLITS:
        raise ValueError(f"split: unknown testbed split {split!r} (known: {', '.join(SPLITS)})")
    seed = _check_seed(seed)
    names = _check_difficulties(difficulties)
    if size is None:
        size = SPLITS[split]
    if isinstance(size, bool) or not isinstance(size, int):
        raise ValueError(f"size: expected an integer, got {size!r}")
    if size < 1:
        raise ValueError(f"size: must be at least 1, got {size} (an empty split)")

    rng = random.Random(f"hbpo-testbed-v{GENERATOR_VERSION}-{split}-{seed}")
    seen: set[str] = set()
    out: list[Problem] = []
    for index in range(size):
        difficulty = names[index % len(names)]
        lo, hi = DIFFICULTIES[difficulty]
        for _ in range(_MAX_ATTEMPTS):
            expr = random_expression(rng, rng.randint(lo, hi))
            text = expr.text()
            if split_of(text) == split and not (unique and text in seen):
                break
        else:
            raise ValueError(f"size: split {split!r} holds fewer than {size} distinct "
                             f"{difficulty} problems; ask for fewer or pass unique=False")
        seen.add(text)
        out.append(Problem(id=f"testbed-{split}-{index}", problem=expr.problem(),
                           answer=str(expr.answer), difficulty=difficulty, source=f"testbed:{split}"))
    return out


def generate_split(split: str, *, seed: int = 0, size: int | None = None,
                   difficulties: Sequence[str] | str | None = None) -> list[Problem]:
    """A split as `testbed:<split>` names it (distinct problems; default size and seed 0)."""
    return generate(split, size, seed=seed, difficulties=difficulties)
