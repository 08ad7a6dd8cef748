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


@dataclass(frozen=True)
class TraceConfig:
    short_fraction: float = 0.2  # traces with no over-thinking at all
    overthink_tokens: tuple[int, int] = (30, 176)  # target T, drawn uniformly, for the others
    max_tokens: int = 248  # T is cut so that no trace is longer (EOS included)

    def key(self) -> dict:
        return {"short_fraction": self.short_fraction, "overthink_tokens": list(self.overthink_tokens),
                "max_tokens": self.max_tokens}


@dataclass(frozen=True)
class Trace:
    text: str  # the assistant text after the prompt, without EOS
    answer: int
    steps: int
    short: bool  # no over-thinking
    minimal_tokens: int  # count_tokens of the minimal trace (EOS included)
    tokens: int  # count_tokens of this trace (EOS included)

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
