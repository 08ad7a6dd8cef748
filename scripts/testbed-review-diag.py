"""What a testbed version-3 base model's reviews do, sample by sample (natural mode, T = 1).

    .venv/bin/python scripts/testbed-review-diag.py [N] [easy|medium|hard ...]

For N test problems per difficulty (default 100; easy and hard): how many are right, how many have
right step lines, how many review, and whether the review's answer is right, fixed a wrong step-line
answer or broke a right one; and the share of step lines and of checks whose arithmetic is wrong.
Counts per difficulty, then up to three samples whose review broke a right answer. (Issue 18:
design E, right drills, hard: review fixed 3, broke 2 of 46; design F, slipping drills: fixed 9,
broke 13 of 43.) Budget forcing, read both as the model answers and as the thinking holds, is
`python -m hbpo testbed curve`'s.
"""
import collections
import re
import sys

import torch

from hbpo.config import load_config, default_config_path, Config, PromptConfig
from hbpo.model import load_policy
from hbpo.prompts import build_prompt
from hbpo.rollout import generate
from hbpo.testbed.problems import generate as gen_problems, parse_problem, NAMES
from hbpo.grading import grade

cfg = load_config(default_config_path(), ["testbed.version=3"])
model, tok = load_policy(cfg.model, torch.device("cpu"), torch.float32, seed=0, testbed_version=3)
model.eval(); tok.padding_side = "left"
# a step line's or a check's arithmetic: `b = a * 3 = 12 * 3 = 36`, `Check b = a * 3 = 12 * 3 is 36`
ARITH = re.compile(r"^(Check )?[a-z] = .*?(\d+) ([-+*]) (\d+) (?:=|is) (\d+)$", re.M)

n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
for d in sys.argv[2:] or ("easy", "hard"):
    ps = gen_problems("test", n, difficulties=[d])
    g = Config().generation; g.temperature, g.batch_size = 1.0, 64
    prompts = [build_prompt(tok, p.problem, "natural", PromptConfig()) for p in ps]
    res, _ = generate(model, tok, prompts, max_new_tokens=cfg.max_response_tokens, gen=g, seed=1)
    c = collections.Counter(); ex = []
    for p, (_, r) in zip(ps, res):
        text = tok.decode(r, skip_special_tokens=True)
        last = NAMES[len(parse_problem(p.problem).ops) - 1]
        thinking = text.split("</think>")[0]
        step = [int(m[1]) for m in re.finditer(rf"^{last} = .*?(\d+)$", thinking, re.M)]
        check = [int(m[1]) for m in re.finditer(rf"^Check {last} = .*?(\d+)$", thinking, re.M)]
        ok = grade(text, p.answer).correct
        ans = int(p.answer)
        s_ok = bool(step) and step[0] == ans
        c["right"] += ok
        c["step right"] += s_ok
        if check:
            c["reviewed"] += 1
            c["review right"] += check[-1] == ans
            c["fixed (step wrong, review right)"] += (not s_ok) and check[-1] == ans
            c["broke (step right, review wrong)"] += s_ok and check[-1] != ans
            c["boxed != review"] += f"boxed{{{check[-1]}}}" not in text
            if s_ok and check[-1] != ans and len(ex) < 3: ex.append(text)
        c["tokens"] += len(r)
        for m in ARITH.finditer(thinking):  # per line: is its arithmetic right?
            kind = "check" if m[1] else "step"
            c[f"{kind} lines"] += 1
            c[f"{kind} lines wrong"] += {"+": int(m[2]) + int(m[4]), "-": int(m[2]) - int(m[4]),
                                         "*": int(m[2]) * int(m[4])}[m[3]] != int(m[5])
    print(d, n, dict(c), "mean tokens", c["tokens"] / n)
    print(f"  wrong arithmetic per line: step lines {c['step lines wrong'] / max(1, c['step lines']):.1%}, "
          f"checks {c['check lines wrong'] / max(1, c['check lines']):.1%}")
    for e in ex: print("---\n" + e)
