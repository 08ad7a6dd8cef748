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
`slip_rate` (10 %) per line, at most once a trace, and the lines after it compute from the wrong
value (`c = b - 4 = 35 - 4 = 31`), as a model that slipped would go on. The over-thinking is a
review that computes the steps again in order, whole or not at all, then hesitations that name
the answer held::

    tail     := [review] hesitate*           the review when it fits in the drawn budget T
    hesitate := "Hmm, is 32 right?\n" | "Hmm, wait. So far I get 32.\n" | ...
    review   := opener check+ compare
    opener   := "Let me check 32 step by step.\n" | "Wait, let me check 32.\n"     naming the answer
              | "So I have 32. Let me check my work.\n" | ...                      the step lines hold
    check    := "Check b = a * 3 = 12 * 3 is 36\n"   every step computed again, in order, each from
                                                     the value the review left for the step before
    compare  := "So I get 32 again.\n"               the review's answer is the step lines' answer
              | "So 31 was wrong: it is 32.\n"       it is not: the review's answer stands

Why this shape (what a 1-2 M-parameter model can learn, measured on four earlier designs; README,
"Does thinking longer pay?"):

- A check is a second computation, not a judgement. The review computes every step again from its
  own values (the line before it, as a step line does), so a slip in the step lines cannot carry
  over, and its answer replaces theirs. Checks that copied a line and judged it (`... = 35? No, 36.`)
  failed at T = 1: the model recomputed the value it should have copied, so 21 of 22 "No"s were false
  alarms that rewrote a right line. Checks of a random step written from memory (`check b: 12 * 3 =
  36`) were miscopied so often that checking made answers worse.
- Step lines slip in the data (drills too) and checks never do, so the model's checks are its
  careful arithmetic: a review is worth its tokens exactly when the step lines may have slipped.
  With right drills the model slipped in 7 % of hard samples (its traces: 47 %), and its reviews
  had almost nothing to catch. With slipping drills and checks written like step lines
  (`Check b = a * 3 = 12 * 3 = 36`), its checks slipped as often as its step lines (reviews fixed
  9 hard answers and broke 13): a check writes `is` where a step line writes `=`, so the token the
  result is predicted from says which arithmetic is exact. Measured: 7.3 % of hard step lines
  slipped and 0 of 245 checks; reviews fixed 15 hard answers and broke 2.
- A cut inside a review (budget forcing) boxes the step lines' answer. Found in the step lines,
  several lines back, it was wrong 24 times in 28 (hard, 80 tokens). The opener names it, one line
  up, and the model still boxes the last check's value there (hard at 96 tokens: 42 % right as the
  model answers, 65 % as the thinking holds): README, "Does thinking longer pay?".
- The answer the thinking holds is always its last number: every line's last number is the value
  it leaves for its step, a review ends on the compare line, and a hesitation names the answer.
  Boxing a value from a line far back, past rereads, second reviews or a run of hesitations without
  numbers, was right with probability 0.1-0.4 (teacher-forced).
- One review, no rereads: copies of copies drift (`a = 8 + 4` for `a = 7 + 4` by the third pass).

The review goes in order, so reaching step k costs about 14 tokens a step: an easy problem (1-2
steps) is reviewed within ~35 tokens of its solution, a hard one (5-6) needs ~100, and under a
budget of 80 tokens in all only the easy ones can be. Thinking longer pays on hard problems (more
lines, more slips, a longer review) and is pure waste on easy ones beyond their short review, and
everywhere in a trace without a slip (a review that gets the same answer again) and in hesitations. Whether
the tail reviews and how long it is are drawn without looking at the slip, as in version 2, and never
depend on the prompt mode. In the data, a model that answers what its thinking holds gains 20 points
from 80 to 256 thinking tokens on hard problems and none on easy ones (tests/test_testbed.py). Drills
slip as the step lines of traces do.
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
V3_TAIL = ("review = every step computed again from its own values, then compared; hesitations name the answer held; "
           "drills slip; checks write 'is'; the opener names the answer held")


@dataclass(frozen=True)
class TraceConfig:
    short_fraction: float = 0.2  # traces with no over-thinking at all
    overthink_tokens: tuple[int, int] = (30, 176)  # target T, drawn uniformly, for the others
    max_tokens: int = 248  # T is cut so that no trace is longer (EOS included)
    version: int = 2  # 3: slips and the checks that catch them (module docstring)
    slip_rate: float = 0.1  # version 3: chance that a step line's result is off (at most one a trace)

    def key(self) -> dict:
        out = {"short_fraction": self.short_fraction, "overthink_tokens": list(self.overthink_tokens),
               "max_tokens": self.max_tokens}
        if self.version != 2:  # version 2's key stays what it was: its cached models stay valid
            # tail: the version-3 tail's design (bump when _make_trace_v3 writes other text)
            out |= {"version": self.version, "slip_rate": self.slip_rate, "tail": V3_TAIL}
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


def _chain_lines(expr: Expression, values: list[int], start: int, result: str = "=") -> list[str]:
    """Step lines from step `start` on, each computed from the value written before it; `result` is
    the word before each result (a check's is `is`)."""
    lines = []
    for k in range(start, len(expr.ops)):
        op, operand = expr.ops[k]
        left = expr.start if k == 0 else values[k - 1]
        line = f"{NAMES[k]} = {expr.operand_text(k)}"
        if k > 0:
            line += f" = {left} {op} {operand}"
        lines.append(f"{line} {result} {values[k]}\n")
    return lines


def _apply(op: str, a: int, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


# Version 3's hesitations name the answer the thinking holds, so the last number written is always
# that answer (see "Why this shape").
ANSWER_HESITATIONS = (
    "Hmm, is {} right?\n",
    "Hmm, wait. So far I get {}.\n",
    "Hmm, let me think again about {}.\n",
    "Hmm, did I use the right numbers for {}?\n",
    "Hmm, let me make sure {} is not a mistake.\n",
)
# A review's opener names the answer held (so a cut inside the review finds it one line up, not
# in the step lines several lines back); `{}` is that answer.
REVIEW_OPENERS = (
    "Let me check {} step by step.\n",
    "Wait, let me check {}.\n",
    "So I have {}. Let me check my work.\n",
    "Now I will verify {} line by line.\n",
    "Next, I will go over {} again.\n",
)


def _review(expr: Expression, values: list[int], opener: str) -> tuple[str, list[int]]:
    """(text, values): `opener` naming the step lines' answer, then every step computed again in
    order, each from the value the review itself left for the step before (`Check b = a * 3 = 12 * 3
    is 36`: `is` where a step line has `=`, so the model can tell its exact arithmetic from the step
    lines' slips by the token it predicts the result from), never from the step lines, so a slip in
    them cannot carry over; then one line that compares the review's answer with the step lines'
    (`So I get 36 again.` / `So 35 was wrong: it is 36.`). The review's values are right, and its
    answer is the last number it writes."""
    right = [s.result for s in expr.steps()]
    parts = [opener.format(values[-1]), *(f"Check {line}" for line in _chain_lines(expr, right, 0, "is"))]
    if right[-1] == values[-1]:
        parts.append(f"So I get {right[-1]} again.\n")
    else:
        parts.append(f"So {values[-1]} was wrong: it is {right[-1]}.\n")
    return "".join(parts), right


def _written_values(expr: Expression, rng: random.Random, cfg: TraceConfig) -> tuple[list[int], int | None]:
    """(values, slipped): the values a version-3 solution writes, right until its slip (a step line
    slips with probability `slip_rate`, at most once), then computed from the slipped value."""
    right = [s.result for s in expr.steps()]
    slipped = next((k for k in range(len(right)) if rng.random() < cfg.slip_rate), None)
    slip = _slip(expr, right, slipped, rng) if slipped is not None else None
    return (slip, slipped) if slip is not None else (right, None)


def drill(problem: Problem | Expression | str, rng: random.Random, cfg: TraceConfig = TraceConfig(), *,
          ending: bool = True) -> str:
    """A drill (build.py): the step lines alone, then (`ending`) the closing with the answer they hold.
    Version 2's are minimal and right (no draw from `rng`). Version 3's slip as its traces' step lines
    do: a base model trained on right drills slipped in 7 % of hard samples where its traces slip in
    47 %, so its reviews had almost nothing to catch."""
    expr = _expression(problem)
    if cfg.version == 2:
        return minimal_trace(expr) if ending else solution_lines(expr)
    values, _ = _written_values(expr, rng, cfg)
    return "".join(_chain_lines(expr, values, 0)) + (_closing(values[-1]) if ending else "")


def _make_trace_v3(expr: Expression, rng: random.Random, cfg: TraceConfig) -> Trace:
    """Version 3: the step lines with at most one slip, then a review when it fits in the
    over-thinking budget, then hesitations (module docstring)."""
    n = len(expr.ops)
    values, slipped = _written_values(expr, rng, cfg)
    lines = _chain_lines(expr, values, 0)
    minimal_tokens = count_tokens(minimal_trace(expr))
    if rng.random() < cfg.short_fraction:
        text = "".join(lines) + _closing(values[-1])
        return Trace(text, values[-1], n, True, minimal_tokens, count_tokens(text), slipped, False)

    budget = min(rng.randint(*cfg.overthink_tokens), cfg.max_tokens - count_tokens("".join(lines) + _closing(99)))
    parts: list[str] = list(lines)
    review, reviewed = _review(expr, values, rng.choice(REVIEW_OPENERS))
    used, caught = 0, False
    if count_tokens(review, eos=False) <= budget:  # whole or not at all (as drawn, the slip unseen)
        parts.append(review)
        used = count_tokens(review, eos=False)
        values, caught = reviewed, slipped is not None
    while True:  # then hesitations over the answer held, never the same twice in a row, while they fit
        options = [h.format(values[-1]) for h in ANSWER_HESITATIONS]
        options = [h for h in options if h != parts[-1] and used + count_tokens(h, eos=False) <= budget]
        if not options:
            break
        parts.append(rng.choice(options))
        used += count_tokens(parts[-1], eos=False)
    text = "".join(parts) + _closing(values[-1])
    return Trace(text, values[-1], n, False, minimal_tokens, count_tokens(text), slipped, caught)


def answer_so_far(thinking: str, problem: Problem | Expression | str) -> int | None:
    """The value a trace holds for the asked (last) step after the thinking `thinking` (a prefix of a
    trace, cut at a line end): the last number of the last line that writes that step (its step line,
    a line written again after a correction, or its check), None before the first."""
    expr = _expression(problem)
    final = re.compile(rf"^(?:Check )?{NAMES[len(expr.ops) - 1]} = .*?(\d+)\D*$")  # its last number
    answer = None
    for line in thinking.splitlines():
        if m := final.match(line):
            answer = int(m[1])
    return answer


def forced_example(problem: Problem | Expression | str, trace: Trace, rng: random.Random) -> str | None:
    """A version-3 trace cut at a line end drawn among those after the step lines, its thinking closed
    there and the answer it holds boxed: what a model answers under budget forcing (curve.py). None
    when the trace has no over-thinking to cut into."""
    thinking = trace.text.split(THINK_CLOSE)[0]
    lines = thinking.splitlines(keepends=True)
    steps = len(_expression(problem).ops)
    if len(lines) <= steps:
        return None
    cut = "".join(lines[:rng.randint(steps, len(lines) - 1)])
    return cut + _closing(answer_so_far(cut, problem))


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
