"""Does thinking longer pay, and where? The base model's accuracy per difficulty under budget forcing.

    python -m hbpo testbed curve [--version 3] [--limit 300] [--samples 4] [--budgets 16,24,...] [--out DIR]

For each test problem the base model (`testbed:base` of `testbed.version`) writes `samples` samples
(default 4) in natural mode at the RL sampling temperature (the built-in config's
`generation.temperature`), up to `max_response_tokens`. Budget forcing at b tokens (s1's "budget forcing", each sample shared by every
b, so the curve compares budgets on the same draws):

- the sample closed its thinking (`</think>`) within b tokens: its own answer stands;
- otherwise its first b tokens are kept up to their last line end (all b when no line ended), the
  thinking is closed for it (`</think>\\nThe answer is \\boxed{`) and it writes the answer greedily.
  The cut falls at a line end because a line is the testbed's unit of thought: half a line
  (`c = b + 4 = 2 + 4`) ends on an operand, which the testbed model, never trained on such a cut,
  boxes as its answer.

Accuracy per (difficulty, b) is graded with the trainer's grader, with a 95 % interval (Wilson, over
samples: a little narrow, since one problem's samples are not independent; the acceptance interval
below resamples problems).

A second reading of the same cuts, "as the thinking holds": the answer the kept thinking holds for
the asked step (`traces.answer_so_far`: its step line, a corrected line, or its check), not the one
the model boxes. They differ where the cut falls inside a review: there the testbed model tends to
box the last check's value, whichever step it checked, so the forced curve dips where reviews are
common (v3: hard at 96 tokens, 42 % as the model answers against 65 % as the thinking holds). The
criterion is judged on the forced answers, as budget forcing defines it; the second reading, with
its own gain and interval, says how much of that gain is reflection rather than the forcing.

The acceptance criterion (`accept`): on the testbed a problem's minimal solution fits in `B_FIT`
tokens (the longest hard one is 79), so from `B_FIT` on every budget can finish the solution and
what more tokens buy is checking. The testbed has the property the paper's claims need when the
accuracy gained from `B_FIT` to the largest budget is at least `MIN_EXTRA_GAIN` larger on hard
problems than on easy ones, and the difference's 95 % interval (a bootstrap over problems) lies
above zero. Version 2 (over-thinking that never finds anything) is expected to fail it.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from ..config import default_config_path, load_config
from ..grading import grade
from ..model import load_policy
from ..prompts import build_prompt
from ..rollout import generate
from .problems import DIFFICULTIES, generate as generate_problems
from .traces import THINK_CLOSE, answer_so_far

BUDGETS = (16, 24, 32, 48, 64, 80, 96, 128, 160, 192, 256)
B_FIT = 80  # every minimal solution (hard: at most 79 tokens) fits from here on
MIN_EXTRA_GAIN = 0.10  # hard's gain from B_FIT to the top budget, over easy's
FORCED = f"{THINK_CLOSE}\nThe answer is \\boxed{{"
ANSWER_TOKENS = 6  # enough for a number (one token) and the closing brace


@dataclass
class Sample:
    problem: object  # the Problem
    difficulty: str
    answer: str
    response: list[int]  # the natural sample's token ids
    close_at: int | None  # index of its `</think>` token, None when it never closed


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % interval of a proportion k/n (Wilson score)."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _continue_greedy(model, tokenizer, sequences: list[list[int]], tokens: int) -> list[list[int]]:
    """Greedy continuations of whole token sequences (left-padded into one batch at a time)."""
    out: list[list[int]] = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    for start in range(0, len(sequences), 64):
        batch = sequences[start:start + 64]
        width = max(len(s) for s in batch)
        ids = torch.tensor([[pad] * (width - len(s)) + s for s in batch])
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in batch])
        with torch.no_grad():
            gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=tokens, do_sample=False,
                                 pad_token_id=pad, eos_token_id=tokenizer.eos_token_id)
        out += [row[width:].tolist() for row in gen]
    return out


def _to_line_end(tokens: list[int], newline_ids: set[int]) -> list[int]:
    """`tokens` up to their last line end (all of them when no line ended)."""
    ends = [i for i, t in enumerate(tokens) if t in newline_ids]
    return tokens[:ends[-1] + 1] if ends else tokens


def measure(model, tokenizer, problems, *, budgets: Sequence[int], temperature: float, max_tokens: int,
            seed: int, samples: int = 1) -> dict:
    """Accuracy and thinking tokens per (difficulty, budget); see the module docstring. `samples`
    natural samples per problem; outcomes are listed problem by problem, a problem's samples together.
    The same for the answers the thinking holds at each cut: `held_table`, `held_outcomes`."""
    from ..config import Config, PromptConfig

    gen = Config().generation
    gen.temperature, gen.batch_size = temperature, 64
    problems = [p for p in problems for _ in range(samples)]  # each batch is seeded by its place: distinct samples
    prompts = [build_prompt(tokenizer, p.problem, "natural", PromptConfig()) for p in problems]
    results, _ = generate(model, tokenizer, prompts, max_new_tokens=max_tokens, gen=gen, seed=seed)
    close = tokenizer.convert_tokens_to_ids(THINK_CLOSE)
    drawn = [Sample(p, p.difficulty, p.answer, resp, resp.index(close) if close in resp else None)
               for p, (_, resp) in zip(problems, results)]
    newline_ids = {i for i in set(t for _, r in results for t in r) if "\n" in tokenizer.decode([i])}
    forced_ids = {nl: tokenizer(("\n" if nl else "") + FORCED, add_special_tokens=False)["input_ids"] for nl in (False, True)}
    cells: dict[str, dict[int, list[bool]]] = {d: {b: [] for b in budgets} for d in DIFFICULTIES}
    held: dict[str, dict[int, list[bool]]] = {d: {b: [] for b in budgets} for d in DIFFICULTIES}
    thinking: dict[str, dict[int, list[int]]] = {d: {b: [] for b in budgets} for d in DIFFICULTIES}
    pending: list[tuple[Sample, int, list[int], str]] = []  # (sample, budget, sequence to continue, text so far)
    for (prompt_ids, _), s in zip(results, drawn):
        for b in budgets:
            if s.close_at is not None and s.close_at < b:
                cells[s.difficulty][b].append(grade(tokenizer.decode(s.response, skip_special_tokens=True), s.answer).correct)
                held[s.difficulty][b].append(cells[s.difficulty][b][-1])  # no cut: its own answer either way
                thinking[s.difficulty][b].append(s.close_at)
                continue
            kept = _to_line_end(s.response[:b], newline_ids)
            text = tokenizer.decode(kept, skip_special_tokens=True)
            held[s.difficulty][b].append(answer_so_far(text, s.problem) == int(s.answer))
            nl = not text.endswith("\n")
            pending.append((s, b, prompt_ids + kept + forced_ids[nl], text + ("\n" if nl else "") + FORCED))
            thinking[s.difficulty][b].append(len(kept))
    answers = _continue_greedy(model, tokenizer, [seq for _, _, seq, _ in pending], ANSWER_TOKENS)
    for (s, b, _, text), ans in zip(pending, answers):
        cells[s.difficulty][b].append(grade(text + tokenizer.decode(ans, skip_special_tokens=True), s.answer).correct)
    def tabulate(outcomes: dict[str, dict[int, list[bool]]]) -> dict:
        table = {}
        for d in DIFFICULTIES:
            table[d] = {}
            for b in budgets:
                v = outcomes[d][b]
                k, n = sum(v), len(v)
                table[d][b] = {"accuracy": k / n if n else None, "ci95": wilson(k, n), "n": n,
                               "thinking_tokens": sum(thinking[d][b]) / n if n else None}
        return table

    as_lists = lambda o: {d: {b: [int(x) for x in o[d][b]] for b in budgets} for d in DIFFICULTIES}  # noqa: E731
    return {"table": tabulate(cells), "outcomes": as_lists(cells), "held_table": tabulate(held), "held_outcomes": as_lists(held)}


def accept(outcomes: dict, budgets: Sequence[int], *, samples: int = 1, seed: int = 0, rounds: int = 2000) -> dict:
    """The acceptance criterion (module docstring), with a bootstrap interval over problems (a
    problem's `samples` outcomes, consecutive in `outcomes`, are drawn together)."""
    lo = min((b for b in budgets if b >= B_FIT), default=None)
    hi = max(budgets)
    if lo is None or lo == hi:
        return {"ok": False, "why": f"needs budgets at or above {B_FIT} and a larger one"}

    def gain(rows_lo: list[int], rows_hi: list[int]) -> float:
        return sum(rows_hi) / len(rows_hi) - sum(rows_lo) / len(rows_lo)

    def per_problem(d: str) -> list[tuple[float, float]]:
        a, b = outcomes[d][lo], outcomes[d][hi]
        return [(sum(a[i:i + samples]) / samples, sum(b[i:i + samples]) / samples) for i in range(0, len(a), samples)]

    easy, hard = per_problem("easy"), per_problem("hard")
    point = gain(*zip(*hard)) - gain(*zip(*easy))
    rng = random.Random(seed)
    draws = []
    for _ in range(rounds):
        h = [hard[rng.randrange(len(hard))] for _ in hard]
        e = [easy[rng.randrange(len(easy))] for _ in easy]
        draws.append(gain(*zip(*h)) - gain(*zip(*e)))
    draws.sort()
    ci = (draws[int(0.025 * rounds)], draws[int(0.975 * rounds) - 1])
    ok = point >= MIN_EXTRA_GAIN and ci[0] > 0
    return {"ok": ok, "from": lo, "to": hi, "hard_gain": gain(*zip(*hard)), "easy_gain": gain(*zip(*easy)),
            "extra_gain": point, "ci95": ci,
            "rule": f"hard's accuracy gain from {lo} to {hi} tokens exceeds easy's by >= {MIN_EXTRA_GAIN:.2f}, "
                    f"with the 95 % interval above 0"}


def svg(table: dict, budgets: Sequence[int], title: str, held: dict | None = None) -> str:
    """The curve as a small SVG line chart (accuracy against budget, one line per difficulty; dashed,
    the `held` reading when given)."""
    w, h, left, bottom, top, right = 560, 320, 50, 40, 30, 110
    x = lambda b: left + (w - left - right) * (math.log(b) - math.log(budgets[0])) / (math.log(budgets[-1]) - math.log(budgets[0]))  # noqa: E731
    y = lambda a: top + (h - top - bottom) * (1 - a)  # noqa: E731
    colours = {"easy": "#3794ff", "medium": "#d18616", "hard": "#f14c4c"}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
           f'<rect width="{w}" height="{h}" fill="white"/>', f'<text x="{left}" y="18" font-size="13">{title}</text>']
    for a in (0, 0.25, 0.5, 0.75, 1):
        out.append(f'<line x1="{left}" x2="{w - right}" y1="{y(a):.1f}" y2="{y(a):.1f}" stroke="#ddd"/>'
                   f'<text x="{left - 6}" y="{y(a) + 4:.1f}" text-anchor="end">{a:.0%}</text>')
    for b in budgets:
        out.append(f'<text x="{x(b):.1f}" y="{h - bottom + 16}" text-anchor="middle">{b}</text>')
    out.append(f'<text x="{(left + w - right) / 2:.0f}" y="{h - 8}" text-anchor="middle">thinking budget b (tokens, log scale)</text>')
    for i, d in enumerate(DIFFICULTIES):
        pts = [(x(b), y(table[d][b]["accuracy"])) for b in budgets if table[d][b]["accuracy"] is not None]
        for b in budgets:
            lo, hi = table[d][b]["ci95"]
            out.append(f'<line x1="{x(b):.1f}" x2="{x(b):.1f}" y1="{y(lo):.1f}" y2="{y(hi):.1f}" stroke="{colours[d]}" stroke-opacity="0.4"/>')
        out.append(f'<polyline fill="none" stroke="{colours[d]}" stroke-width="2" points="{" ".join(f"{a:.1f},{c:.1f}" for a, c in pts)}"/>')
        if held is not None:
            dashed = [(x(b), y(held[d][b]["accuracy"])) for b in budgets if held[d][b]["accuracy"] is not None]
            out.append(f'<polyline fill="none" stroke="{colours[d]}" stroke-width="1.5" stroke-dasharray="5,4" '
                       f'points="{" ".join(f"{a:.1f},{c:.1f}" for a, c in dashed)}"/>')
        out.append(f'<text x="{w - right + 10}" y="{top + 16 * (i + 1)}" fill="{colours[d]}">{d}</text>')
    if held is not None:
        out.append(f'<line x1="{w - right + 10}" x2="{w - right + 34}" y1="{top + 76}" y2="{top + 76}" stroke="#555" stroke-dasharray="5,4"/>'
                   f'<text x="{w - right + 10}" y="{top + 92}">as the thinking</text><text x="{w - right + 10}" y="{top + 106}">holds</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def markdown(result: dict, budgets: Sequence[int]) -> str:
    lines = []
    for reading, table, a in (("as the model answers (budget forcing)", result["table"], result["accept"]),
                              ("as the thinking holds (the same cuts)", result["held_table"], result["held_accept"])):
        lines += [f"| {reading} | {' | '.join(str(b) for b in budgets)} |", "|---|" + "---|" * len(budgets)]
        for d in DIFFICULTIES:
            lines.append(f"| {d} | " + " | ".join(f"{table[d][b]['accuracy'] * 100:.0f} %" for b in budgets) + " |")
        lines.append("")
        if "extra_gain" not in a:
            lines += [f"Criterion: {a['why']}", ""]
            continue
        verdict = f"Criterion ({a['rule']}): {'met' if a['ok'] else 'NOT met'}." if a is result["accept"] else \
            f"Reflection alone would {'meet' if a['ok'] else 'NOT meet'} the same criterion."
        lines += [f"Gain from {a['from']} to {a['to']} tokens: hard {a['hard_gain'] * 100:+.1f} pt, easy "
                  f"{a['easy_gain'] * 100:+.1f} pt; hard over easy {a['extra_gain'] * 100:+.1f} pt "
                  f"(95 % interval {a['ci95'][0] * 100:+.1f} to {a['ci95'][1] * 100:+.1f}). {verdict}", ""]
    return "\n".join(lines)


def run_curve(*, version: int, limit: int, budgets: Sequence[int], out: Path | None, seed: int = 0,
              samples: int = 4) -> dict:
    cfg = load_config(default_config_path(), [f"testbed.version={version}"])
    torch.manual_seed(seed)
    started = time.perf_counter()
    model, tok = load_policy(cfg.model, torch.device("cpu"), torch.float32, seed=seed, testbed_version=version)
    model.eval()
    tok.padding_side = "left"
    problems = generate_problems("test", limit)
    budgets = sorted(set(b for b in budgets if 0 < b <= cfg.max_response_tokens))
    result = measure(model, tok, problems, budgets=budgets, temperature=cfg.generation.temperature,
                     max_tokens=cfg.max_response_tokens, seed=seed, samples=samples)
    result["accept"] = accept(result["outcomes"], budgets, samples=samples, seed=seed)
    result["held_accept"] = accept(result["held_outcomes"], budgets, samples=samples, seed=seed)
    result |= {"version": version, "problems": len(problems), "samples": samples, "budgets": list(budgets),
               "temperature": cfg.generation.temperature, "seconds": time.perf_counter() - started}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"curve-v{version}.json").write_text(json.dumps(result, indent=1))
        (out / f"curve-v{version}.md").write_text(markdown(result, budgets))
        (out / f"curve-v{version}.svg").write_text(svg(result["table"], budgets,
                                                      f"testbed v{version}: accuracy under budget forcing (T={cfg.generation.temperature})",
                                                      held=result["held_table"]))
    return result
