"""Supervised warm-start traces that over-think the way distilled reasoning models do.

A trace is the assistant text after the prompt's opened `<think>` line (and the budget sentence,
when the mode has one); the tokenizer's EOS follows it. The solution writes one line a step: the
definition copied from the problem, the previous value put in, the result
(`Let a = 7 + 5, b = a * 3, c = b - 4. What is c?`)::

    a = 7 + 5 = 12
    b = a * 3 = 12 * 3 = 36
    c = b - 4 = 36 - 4 = 32
    </think>
    The answer is \boxed{32}.

(Every number 0..99 is one token, so every line after the first is exactly 12 tokens. Each token
of a line is one simple lookup for a small transformer: copy what follows `b =` in the prompt,
copy the previous line's result, recall one arithmetic fact.)

Grammar::

    trace     := steps overthink "</think>\nThe answer is \boxed{N}."
    steps     := step-line+
    overthink := segment*                                       nothing in a short trace
    segment   := check | verify | hesitate | reread | summary | restart   (never twice in a row)
    check     := "Wait, let me check b: a op b = r. Yes.\n"
    verify    := "Let me verify: <inverse>, so a op b = r. Correct.\n"
                 (inverse: r - b = a for +, r + b = a for -, b * a = r for *)
    hesitate  := "Hmm, wait.\n" | "Hmm, is that right?\n" | ...
    reread    := "Actually, let me read the problem again: <definitions>.\n"
    summary   := "So the result is N.\n"
    restart   := "Alternatively, let me redo it from the start.\n" steps "So I get N again.\n"

Segments open with different words (Wait, Let, Hmm, Actually, So, Alternatively; none more likely
than 16% after the last step) while 20% of traces close right there: greedy decoding takes the
shortest path (so greedy accuracy measures the reasoning alone) and sampling over-thinks. Nothing
is inserted between step lines: that breaks the regular layout a tiny model relies on.

Lengths (tokens as the testbed tokenizer counts them, EOS included; `count_tokens`):

- Minimal trace: 12 tokens a step plus 7: easy (1-2 steps) 19-31, medium (3-4) 43-55, hard (5-6)
  67-79; means about 25 / 49 / 73. A model that drops all over-thinking spends ~3x more tokens on
  hard problems than on easy ones.
- Over-thinking: a fraction `short_fraction` (20%) of traces has none, at every difficulty: short
  correct solutions are in the base model's distribution. The others draw a target T uniformly
  from `overthink_tokens` (30..176) *independently of the difficulty* and add segments after the
  step lines while they fit in T. Over-thinking is T minus a few tokens, whatever the difficulty:
  the base model spends about as many extra tokens on easy problems as on hard ones, which is
  what HBPO is for.
- Mean trace length ~ 49 + 0.8 * 100 ~ 129 tokens; T is cut so that no trace exceeds 248 < 256.

The trace never depends on the prompt mode (natural, efficiency, or a budget sentence): the base
model must not follow budgets before HBPO teaches it to. `draw_sft_example` draws the mode at
random, independently of the trace.

Version 3 (`TraceConfig(version=3)`, `testbed.version: 3`): reflection that works. Versions 1-2
over-think in pure waste: no check ever finds anything, so extra tokens only add chances to slip.
In version 3 a step line slips (its result is off: `b = a * 3 = 12 * 3 = 35`) with probability
`slip_rate` per line, at most once a trace, and the lines after it compute from the wrong value
(`c = b - 4 = 35 - 4 = 31`), as a model that slipped would go on. The tail's segments are drawn
exactly as before, without looking at the slip; what a check says depends on what it finds::

    check of a right line  "Wait, let me check b: 12 * 3 = 36. Yes.\n"
    check of the slipped   "Wait, let me check b: 12 * 3 = 36, not 35.\n"  then the lines from the
                           next step on, from the corrected value, and the answer is the right one
    restart                the steps again from the problem (all right), then "So I get 32, not 31.\n"
                           when it differs (a verify, which rearranges the written line, is a check
                           here too)

A check recomputes the step from its operands as they stand, independently of the written result,
so it catches the slip only when it looks at that step: a hard problem (5-6 lines) slips more often
and needs more checks to find the slip than an easy one (1-2 lines), so thinking longer pays more on
hard problems; checks that find nothing (every trace without a slip, and checks of other steps) stay
pure over-thinking. Drill examples stay minimal and right.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from ..config import PromptConfig
from ..data import Problem
from ..modes import Mode
from ..prompts import build_prompt
from .problems import NAMES, Expression, Step, parse_problem

TRACE_VERSION = 2
THINK_CLOSE = "</think>"
# The modes SFT prompts are drawn from: the trace is the same whichever is drawn.
SFT_MODES: tuple[Mode, ...] = ("natural", "efficiency", 32, 64, 128, 160)

HESITATIONS = (
    "Hmm, wait.\n",
    "Hmm, is that right?\n",
    "Hmm, let me think again.\n",
    "Hmm, did I use the right numbers?\n",
    "Hmm, let me make sure I did not make a mistake.\n",
)
# Relative weights of the tail segments (a segment that does not fit is redrawn among the rest).
SEGMENT_WEIGHTS = {"check": 2, "verify": 2, "hesitate": 2, "reread": 1, "summary": 1, "restart": 2}


TRACE_VERSIONS = (2, 3)


@dataclass(frozen=True)
class TraceConfig:
    short_fraction: float = 0.2  # traces with no over-thinking at all
    overthink_tokens: tuple[int, int] = (30, 176)  # target T, drawn uniformly, for the others
    max_tokens: int = 248  # T is cut so that no trace is longer (EOS included)
    version: int = 2  # 3: slips and the checks that catch them (module docstring)
    slip_rate: float = 0.08  # version 3: chance that a step line's result is off (at most one a trace)

    def key(self) -> dict:
        out = {"short_fraction": self.short_fraction, "overthink_tokens": list(self.overthink_tokens),
               "max_tokens": self.max_tokens}
        if self.version != 2:  # version 2's key stays what it was: its cached models stay valid
            out |= {"version": self.version, "slip_rate": self.slip_rate}
        return out


@dataclass(frozen=True)
class Trace:
    text: str  # the assistant text after the prompt, without EOS
    answer: int  # the boxed answer (version 3: wrong when a slip went uncaught)
    steps: int
    short: bool  # no over-thinking
    minimal_tokens: int  # count_tokens of the minimal trace (EOS included)
    tokens: int  # count_tokens of this trace (EOS included)
    slipped: int | None = None  # version 3: the step (0-based) whose line slipped
    caught: bool = False  # version 3: a check or restart corrected it

    @property
    def overthink_tokens(self) -> int:
        return self.tokens - self.minimal_tokens


# GPT-2's pre-tokenizer split (ASCII form): a BPE whose vocabulary holds every piece of the
# testbed's text (the testbed tokenizer does) gives exactly one token per piece.
_PIECES = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")


def count_tokens(text: str, *, eos: bool = True) -> int:
    """Tokens of `text` under the testbed tokenizer (`</think>` is one token), plus EOS."""
    total = 0
    for i, part in enumerate(text.split(THINK_CLOSE)):
        total += (i > 0) + len(_PIECES.findall(part))
    return total + int(eos)


def _expression(problem: Problem | Expression | str) -> Expression:
    if isinstance(problem, Expression):
        return problem
    return parse_problem(problem.problem if isinstance(problem, Problem) else problem)


def _step_lines(expr: Expression) -> list[str]:
    """One line per step: `a = 7 + 5 = 12`, then `b = a * 3 = 12 * 3 = 36`, ..."""
    lines = []
    for k, step in enumerate(expr.steps()):
        definition = expr.operand_text(k)
        line = f"{NAMES[k]} = {definition}"
        if k > 0:
            line += f" = {step.left} {step.op} {step.right}"
        lines.append(f"{line} = {step.result}\n")
    return lines


def _check(k: int, step: Step) -> str:
    return f"Wait, let me check {NAMES[k - 1]}: {step.equation()}. Yes.\n"


def _verify(step: Step) -> str:
    if step.op == "+":
        inverse = f"{step.result} - {step.right} = {step.left}"
    elif step.op == "-":
        inverse = f"{step.result} + {step.right} = {step.left}"
    else:
        inverse = f"{step.right} * {step.left} = {step.result}"
    return f"Let me verify: {inverse}, so {step.equation()}. Correct.\n"


def _closing(answer: int) -> str:
    return f"{THINK_CLOSE}\nThe answer is \\boxed{{{answer}}}."


def solution_lines(problem: Problem | Expression | str) -> str:
    """The step lines alone (what `build.py`'s drill examples train on)."""
    return "".join(_step_lines(_expression(problem)))


def minimal_trace(problem: Problem | Expression | str) -> str:
    """The shortest correct trace: one line per step, then the answer."""
    expr = _expression(problem)
    return "".join(_step_lines(expr)) + _closing(expr.answer)


def make_trace(problem: Problem | Expression | str, rng: random.Random,
               cfg: TraceConfig = TraceConfig()) -> Trace:
    """One SFT trace for a testbed problem, drawn with `rng` (see the module docstring)."""
    if cfg.version == 3:
        return _make_trace_v3(_expression(problem), rng, cfg)
    if cfg.version != 2:
        raise ValueError(f"testbed.version: {cfg.version} is not one of {', '.join(map(str, TRACE_VERSIONS))}")
    expr = _expression(problem)
    steps = expr.steps()
    final = steps[-1].result
    minimal = minimal_trace(expr)
    minimal_tokens = count_tokens(minimal)
    short = rng.random() < cfg.short_fraction
    if short:
        return Trace(minimal, final, len(steps), True, minimal_tokens, minimal_tokens)

    budget = min(rng.randint(*cfg.overthink_tokens), cfg.max_tokens - minimal_tokens)
    used = 0

    def fits(segment: str) -> bool:
        return used + count_tokens(segment, eos=False) <= budget

    lines = _step_lines(expr)
    parts: list[str] = list(lines)

    redo = "Alternatively, let me redo it from the start.\n" + "".join(lines) + f"So I get {final} again.\n"
    while True:
        k = rng.randint(1, len(steps))
        candidates = {
            "check": _check(k, steps[k - 1]),
            "verify": _verify(steps[k - 1]),
            "hesitate": rng.choice(HESITATIONS),
            "reread": f"Actually, let me read the problem again: {expr.text()}.\n",
            "summary": f"So the result is {final}.\n",
            "restart": redo,
        }
        names = [n for n in SEGMENT_WEIGHTS if fits(candidates[n]) and candidates[n] != parts[-1]]
        if not names:
            break
        name = rng.choices(names, weights=[SEGMENT_WEIGHTS[n] for n in names])[0]
        parts.append(candidates[name])
        used += count_tokens(candidates[name], eos=False)
    text = "".join(parts) + _closing(final)
    return Trace(text, final, len(steps), False, minimal_tokens, count_tokens(text))


def _chain_from(expr: Expression, values: list[int], start: int) -> list[int] | None:
    """`values` with the steps after `start` computed from the value at `start` (what a model that
    wrote that value goes on to write), or None when one leaves the testbed's range 1..99."""
    out = list(values)
    for k in range(start + 1, len(expr.ops)):
        op, operand = expr.ops[k]
        out[k] = _apply(op, out[k - 1], operand)
        if not 1 <= out[k] <= 99:
            return None
    return out


def _slip(expr: Expression, right: list[int], k: int, rng: random.Random) -> list[int] | None:
    """The written values when step k's result is off (near the right one, and a chain that stays in
    1..99 after it); None when no such slip exists."""
    options = []
    for d in (-3, -2, -1, 1, 2, 3, -10, 10):
        if 1 <= (v := right[k] + d) <= 99:
            chain = _chain_from(expr, right[:k] + [v] + right[k + 1:], k)
            if chain is not None:
                options.append(chain)
    return rng.choice(options) if options else None


def _chain_lines(expr: Expression, values: list[int], start: int) -> list[str]:
    """Step lines from step `start` on, each computed from the value written before it."""
    lines = []
    for k in range(start, len(expr.ops)):
        op, operand = expr.ops[k]
        left = expr.start if k == 0 else values[k - 1]
        line = f"{NAMES[k]} = {expr.operand_text(k)}"
        if k > 0:
            line += f" = {left} {op} {operand}"
        lines.append(f"{line} = {values[k]}\n")
    return lines


def _apply(op: str, a: int, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


def _make_trace_v3(expr: Expression, rng: random.Random, cfg: TraceConfig) -> Trace:
    """Version 3: the step lines with at most one slip, then the tail drawn as in version 2, each
    check saying what it finds (module docstring)."""
    steps = expr.steps()
    right = [s.result for s in steps]
    n = len(steps)
    # The written values: right until the slip, then computed from the slipped value.
    slipped = next((k for k in range(n) if rng.random() < cfg.slip_rate), None)
    values = list(right)
    if slipped is not None:
        slip = _slip(expr, right, slipped, rng)
        if slip is None:
            slipped = None
        else:
            values = slip
    lines = _chain_lines(expr, values, 0)
    minimal_tokens = count_tokens(minimal_trace(expr))
    if rng.random() < cfg.short_fraction:
        text = "".join(lines) + _closing(values[-1])
        return Trace(text, values[-1], n, True, minimal_tokens, count_tokens(text), slipped, False)

    budget = min(rng.randint(*cfg.overthink_tokens), cfg.max_tokens - count_tokens("".join(lines) + _closing(99)))
    parts: list[str] = list(lines)
    used = 0
    caught = False
    while True:
        k = rng.randint(1, n)  # the step a check looks at (1-based, as version 2 draws it)
        j = k - 1
        op, operand = expr.ops[j]
        left = expr.start if j == 0 else values[j - 1]
        truth = _apply(op, left, operand)
        if truth == values[j]:
            check = f"Wait, let me check {NAMES[j]}: {left} {op} {operand} = {truth}. Yes.\n"
        else:  # the slipped step: corrected, and the lines after it written again from the right value
            fixed = right  # the right value at the slipped step gives the right chain after it
            check = (f"Wait, let me check {NAMES[j]}: {left} {op} {operand} = {truth}, not {values[j]}.\n"
                     + "".join(_chain_lines(expr, fixed, j + 1)))
        redo_values = right
        redo_end = (f"So I get {right[-1]} again.\n" if values[-1] == right[-1]
                    else f"So I get {right[-1]}, not {values[-1]}.\n")
        candidates = {
            "check": check,
            "verify": check,  # no rearranged verify in version 3: a second weight on the real check
            "hesitate": rng.choice(HESITATIONS),
            "reread": f"Actually, let me read the problem again: {expr.text()}.\n",
            "summary": f"So the result is {values[-1]}.\n",
            "restart": "Alternatively, let me redo it from the start.\n" + "".join(_chain_lines(expr, redo_values, 0)) + redo_end,
        }
        names = [m for m in SEGMENT_WEIGHTS if used + count_tokens(candidates[m], eos=False) <= budget
                 and candidates[m] != parts[-1]]
        if not names:
            break
        name = rng.choices(names, weights=[SEGMENT_WEIGHTS[m] for m in names])[0]
        parts.append(candidates[name])
        used += count_tokens(candidates[name], eos=False)
        if name in ("check", "verify") and truth != values[j]:
            values, caught = fixed, True
        elif name == "restart" and values != right:
            values, caught = list(right), True
    text = "".join(parts) + _closing(values[-1])
    return Trace(text, values[-1], n, False, minimal_tokens, count_tokens(text), slipped, caught)


def draw_sft_example(problem: Problem, rng: random.Random,
                     cfg: TraceConfig = TraceConfig()) -> tuple[Mode, Trace]:
    """(mode, trace): a mode from `SFT_MODES` and a trace, drawn independently of each other."""
    mode = rng.choice(SFT_MODES)
    return mode, make_trace(problem, rng, cfg)


def sft_example(problem: Problem, rng: random.Random, tokenizer, prompt_cfg: PromptConfig = PromptConfig(),
                cfg: TraceConfig = TraceConfig()) -> tuple[str, Trace, Mode]:
    """(prompt, trace, mode): `draw_sft_example` with the prompt built for the mode."""
    mode, trace = draw_sft_example(problem, rng, cfg)
    return build_prompt(tokenizer, problem.problem, mode, prompt_cfg), trace, mode
