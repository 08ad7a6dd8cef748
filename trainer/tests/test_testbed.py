"""The built-in testbed: problem generator, over-thinking SFT traces, the cached base model."""

from __future__ import annotations

import json
import random
import re
import statistics
from pathlib import Path

import pytest

from hbpo.grading import grade
from hbpo.testbed import problems as P
from hbpo.testbed.problems import (DIFFICULTIES, SPLITS, Expression, generate, generate_split,
                                   parse_problem, split_of)
from hbpo.testbed.traces import (REVIEW_OPENERS, SFT_MODES, TraceConfig, count_tokens, draw_sft_example,
                                 make_trace, minimal_trace, solution_lines)

# ---------------------------------------------------------------------------------- problems


def test_problem_text_and_answer_of_a_known_expression():
    expr = Expression(7, (("+", 5), ("*", 3), ("-", 4)))
    assert expr.problem() == "Let a = 7 + 5, b = a * 3, c = b - 4. What is c?"
    assert [s.equation() for s in expr.steps()] == ["7 + 5 = 12", "12 * 3 = 36", "36 - 4 = 32"]
    assert expr.answer == 32
    assert parse_problem("Let a = 7 + 5, b = a * 3, c = b - 4. What is c?") == expr
    assert minimal_trace(expr) == ("a = 7 + 5 = 12\nb = a * 3 = 12 * 3 = 36\nc = b - 4 = 36 - 4 = 32\n"
                                   "</think>\nThe answer is \\boxed{32}.")


def test_generator_is_deterministic_and_depends_on_the_seed():
    assert generate_split("val") == generate_split("val")
    assert generate_split("val", seed=3) == generate_split("val", seed=3)
    assert [p.problem for p in generate_split("val", seed=1)] != [p.problem for p in generate_split("val")]


def test_splits_never_share_an_expression_whatever_the_seed():
    texts = {}
    for split in SPLITS:
        texts[split] = {p.problem for seed in (0, 1) for p in generate(split, seed=seed)}
    assert not texts["train"] & texts["val"]
    assert not texts["train"] & texts["test"]
    assert not texts["val"] & texts["test"]
    for split, items in texts.items():
        assert all(split_of(parse_problem(t).text()) == split for t in items)


def test_items_are_labelled_balanced_in_range_and_distinct():
    items = generate_split("test")
    assert len(items) == SPLITS["test"]
    assert len({p.problem for p in items}) == len(items)
    counts = {d: sum(p.difficulty == d for p in items) for d in DIFFICULTIES}
    assert counts == {d: len(items) // 3 for d in DIFFICULTIES}
    for p in items:
        expr = parse_problem(p.problem)
        lo, hi = DIFFICULTIES[p.difficulty]
        assert lo <= len(expr.ops) <= hi
        assert 1 <= expr.start <= 9 and all(1 <= b <= 9 for _, b in expr.ops)
        assert all(0 <= s.result <= 99 for s in expr.steps())
        assert p.answer == str(expr.answer) and p.source == "testbed:test"


def test_difficulty_filter_and_prefix_balance():
    hard = generate("val", 12, difficulties=["hard"])
    assert {p.difficulty for p in hard} == {"hard"}
    assert [p.difficulty for p in generate("val", 6)] == ["easy", "medium", "hard"] * 2


def test_answers_grade_correct_and_wrong_ones_do_not():
    for p in generate_split("val")[:30]:
        assert grade(f"so it is \\boxed{{{p.answer}}}.", p.answer).correct
        assert not grade(f"so it is \\boxed{{{int(p.answer) + 1}}}.", p.answer).correct
        assert grade(minimal_trace(p), p.answer).correct


@pytest.mark.parametrize("call, field", [
    (lambda: generate("val", difficulties=["medium", "insane"]), "difficulties"),
    (lambda: generate("val", difficulties=[]), "difficulties"),
    (lambda: generate("val", 0), "size"),
    (lambda: generate("val", -3), "size"),
    (lambda: generate("val", seed=True), "seed"),
    (lambda: generate("val", seed="1"), "seed"),
    (lambda: generate("val", seed=1.0), "seed"),
    (lambda: generate("val", seed=-1), "seed"),
    (lambda: generate("dev"), "split"),
    (lambda: generate_split("val", size=0), "size"),
    (lambda: generate("val", 5000, difficulties=["easy"]), "size"),  # fewer distinct ones exist
    (lambda: parse_problem("What is 2 + 2?"), "problem"),
    (lambda: parse_problem("Let a = 7 + 5, b = a * 3. What is c?"), "problem"),  # asks for no value
    (lambda: parse_problem("Let a = 7 + 5, c = a * 3. What is c?"), "problem"),  # names out of order
])
def test_bad_input_is_refused_naming_the_field(call, field):
    with pytest.raises(ValueError, match=rf"^{field}: "):
        call()


# ---------------------------------------------------------------------------------- traces


def _traces(n_per_difficulty=400, seed=0, cfg=TraceConfig()):
    rng = random.Random(seed)
    out = {}
    for d in DIFFICULTIES:
        out[d] = [make_trace(p, rng, cfg) for p in generate("train", n_per_difficulty, difficulties=[d], unique=False)]
    return out


def test_minimal_traces_grow_with_difficulty():
    traces = _traces(200)
    means = {d: statistics.mean(t.minimal_tokens for t in ts) for d, ts in traces.items()}
    assert means["easy"] < means["medium"] < means["hard"]
    assert means["hard"] / means["easy"] >= 2
    assert 19 <= means["easy"] <= 31 and 67 <= means["hard"] <= 79


def test_over_thinking_does_not_depend_on_difficulty():
    traces = _traces(600)
    over = {d: statistics.mean(t.overthink_tokens for t in ts if not t.short) for d, ts in traces.items()}
    short = {d: statistics.mean(t.short for t in ts) for d, ts in traces.items()}
    assert max(over.values()) / min(over.values()) < 1.1, over
    assert all(60 <= v <= 140 for v in over.values()), over
    assert all(0.12 <= v <= 0.28 for v in short.values()), short  # short correct paths everywhere
    for ts in traces.values():
        assert all(t.overthink_tokens == 0 for t in ts if t.short)
        assert all(t.tokens <= 250 for t in ts)
    everything = [t.tokens for ts in traces.values() for t in ts]
    assert 100 <= statistics.mean(everything) <= 150


def test_traces_are_correct_and_well_formed():
    rng = random.Random(5)
    for p in generate("val", 60):
        t = make_trace(p, rng)
        assert t.text.count("</think>") == 1 and t.text.endswith(f"</think>\nThe answer is \\boxed{{{p.answer}}}.")
        assert t.text.startswith("a = ")
        assert grade(t.text, p.answer).correct
        if t.short:
            assert t.text == minimal_trace(p)
        else:
            lines = solution_lines(p)
            assert t.text.startswith(lines) and t.tokens > t.minimal_tokens
            assert t.text[len(lines):].split("\n")[0].split()[0] in {"Wait,", "Let", "Hmm,", "Actually,", "So", "Alternatively,"}


def test_trace_length_is_independent_of_the_prompt_mode():
    rng = random.Random(1)
    by_mode = {m: [] for m in SFT_MODES}
    for p in generate("train", 3000, unique=False):
        mode, trace = draw_sft_example(p, rng)
        by_mode[mode].append(trace.tokens)
    means = {m: statistics.mean(v) for m, v in by_mode.items()}
    assert all(len(v) > 300 for v in by_mode.values())
    assert max(means.values()) / min(means.values()) < 1.1, means
    assert abs(means[32] - means[160]) < 10, means


def test_count_tokens_matches_a_testbed_tokenizer():
    from hbpo.tiny import build_tokenizer

    # As build.py does it: merges learned from the traces (every piece ends up one token).
    rng = random.Random(2)
    texts = [make_trace(p, rng).text for p in generate("train", 3000, unique=False)]
    tok = build_tokenizer(768, corpus=texts)
    for text in texts[-300:]:
        assert len(tok(text, add_special_tokens=False)["input_ids"]) + 1 == count_tokens(text)


V3 = TraceConfig(version=3)
# A step line or a check (`b = a * 3 = 12 * 3 = 36`, `Check b = a * 3 = 12 * 3 is 36`): its arithmetic.
_ARITH = re.compile(r"= (\d+) ([-+*]) (\d+) (?:=|is) (\d+)\n")


def _wrong_lines(text: str) -> list[str]:
    """The lines whose arithmetic is wrong (a slip)."""
    out = []
    for m in _ARITH.finditer(text):
        left, op, right, value = int(m[1]), m[2], int(m[3]), int(m[4])
        if {"+": left + right, "-": left - right, "*": left * right}[op] != value:
            out.append(m[0])
    return out


def _forced_answer(trace, problem, budget: int) -> int | None:
    """What a model that has learned the traces exactly answers under budget forcing at `budget`
    thinking tokens (curve.py): its own answer when it closed in time, else the answer its thinking
    holds at the last line end within the cut."""
    from hbpo.testbed.traces import THINK_CLOSE, answer_so_far

    thinking = trace.text.split(THINK_CLOSE)[0]
    if count_tokens(thinking, eos=False) < budget:
        return trace.answer
    kept, used = "", 0
    for line in thinking.splitlines(keepends=True):
        used += count_tokens(line, eos=False)
        if used > budget:
            break
        kept += line
    return answer_so_far(kept, problem)


def test_a_forced_example_boxes_what_the_thinking_holds_where_it_is_cut():
    from hbpo.testbed.traces import THINK_CLOSE, answer_so_far, forced_example

    rng, seen = random.Random(9), set()
    for p in generate("train", 600, unique=False):
        t = make_trace(p, rng, V3)
        forced = forced_example(p, t, rng)
        if t.short:
            assert forced is None
            continue
        thinking, closing = forced.split(THINK_CLOSE)
        assert t.text.startswith(thinking) and len(thinking) < len(t.text.split(THINK_CLOSE)[0])
        assert thinking.startswith(solution_lines(p)) if t.slipped is None else thinking.endswith("\n")
        held = answer_so_far(thinking, p)
        assert closing == f"\nThe answer is \\boxed{{{held}}}." and held is not None
        seen.add((held == int(p.answer), held == t.answer))
    # (held right, held = the trace's own answer): cut before a correction, the held answer is the
    # slipped one (False, False); an uncaught slip is wrong to the end (False, True); once right it stays
    assert {(True, True), (False, False), (False, True)} <= seen and (True, False) not in seen, seen
    slipped = "a = 7 + 5 = 12\nb = a * 3 = 12 * 3 = 35\nLet me check 35 step by step.\nCheck a = 7 + 5 is 12\n"
    q = "Let a = 7 + 5, b = a * 3. What is b?"
    assert answer_so_far(slipped, q) == 35 and answer_so_far(slipped + "Check b = a * 3 = 12 * 3 is 36\n", q) == 36
    assert answer_so_far("a = 7 + 5 = 12\n", "Let a = 7 + 5, b = a * 3. What is b?") is None


def test_version_2_keys_stay_as_they_were():
    # The cache key of every machine's version-2 testbed model must not move with version 3's fields.
    assert TraceConfig().key() == {"short_fraction": 0.2, "overthink_tokens": [30, 176], "max_tokens": 248}
    assert V3.key()["version"] == 3 and V3.key() != TraceConfig().key()
    with pytest.raises(ValueError, match="testbed.version: 4"):
        make_trace(generate("val", 1)[0], random.Random(0), TraceConfig(version=4))


def test_version_3_slips_once_and_a_review_computes_every_step_again():
    traces = _traces(700, seed=3, cfg=V3)
    for d, ts in traces.items():
        for t, p in zip(ts, generate("train", 700, difficulties=[d], unique=False)):
            wrong = _wrong_lines(t.text)
            # exactly the slipped step line is wrong; every check is right
            assert len(wrong) == (t.slipped is not None) and not any("Check" in w for w in wrong), t.text
            assert t.text.endswith(f"</think>\nThe answer is \\boxed{{{t.answer}}}.") and t.tokens <= 248
            right = t.answer == int(p.answer)
            assert right == (t.slipped is None or t.caught), t.text
            assert grade(t.text, p.answer).correct == right
            if t.slipped is None:
                assert t.text.startswith(solution_lines(p)) and "was wrong" not in t.text
            thinking = t.text.split("</think>")[0]
            m = re.search(r"^(?:Wait|Let|So|Now|Next).*\n((?:Check .*\n)+)(So .*)\n", thinking, re.M)
            assert bool(m) == ("Check" in thinking), t.text
            if m:
                # the review is the clean solution computed again, line by line (from its own values,
                # not the step lines'), then one line comparing its answer with the step lines'
                held = int(re.findall(r"\d+", thinking[:m.start()])[-1])  # the step lines' answer
                # the opener names it; the checks write `is` where the step lines write `=`
                assert m[0].split("\n")[0] + "\n" in {o.format(held) for o in REVIEW_OPENERS}, t.text
                clean = [line.rsplit(" = ", 1) for line in solution_lines(p).splitlines()]
                assert m[1] == "".join(f"Check {head} is {value}\n" for head, value in clean), t.text
                assert m[2] == (f"So I get {p.answer} again." if held == int(p.answer) else
                                f"So {held} was wrong: it is {p.answer}."), t.text
                assert t.caught == (t.slipped is not None) and t.answer == int(p.answer)
    # Hard problems slip more (more lines) and are caught less often (a review must go further to
    # reach the slip): extra reasoning pays more there.
    slip = {d: statistics.mean(t.slipped is not None for t in ts) for d, ts in traces.items()}
    right = {d: statistics.mean(t.slipped is None or t.caught for t in ts) for d, ts in traces.items()}
    assert slip["easy"] < slip["medium"] < slip["hard"], slip
    assert right["hard"] < right["medium"] < right["easy"] and right["easy"] >= 0.9, right
    caught_share = {d: sum(t.caught for t in ts) / max(1, sum(t.slipped is not None for t in ts)) for d, ts in traces.items()}
    assert caught_share["hard"] < caught_share["easy"], caught_share


def test_version_3_over_thinks_without_knowing_about_the_slip():
    # How long the over-thinking is, and whether it reviews, are drawn as in version 2, whether or
    # not a line slipped: the model cannot learn "a review comes after a slip".
    traces = [t for ts in _traces(700, seed=4, cfg=V3).values() for t in ts if not t.short]
    opener = re.compile("|".join(re.escape(o).replace(r"\{\}", r"\d+") for o in REVIEW_OPENERS))
    reviews = lambda t: len(opener.findall(t.text))  # noqa: E731
    slipped = [t for t in traces if t.slipped is not None]
    clean = [t for t in traces if t.slipped is None]
    assert len(slipped) > 200 and {reviews(t) for t in traces} == {0, 1}
    assert abs(statistics.mean(map(reviews, slipped)) - statistics.mean(map(reviews, clean))) < 0.1
    assert abs(statistics.mean(t.overthink_tokens for t in slipped) - statistics.mean(t.overthink_tokens for t in clean)) < 10
    # the answer the thinking holds is its last number where a hesitation starts and where the
    # thinking ends (after the steps, a review, each hesitation): a model finds it by recency
    for t in traces:
        thinking = t.text.split("</think>")[0]
        ends = [m.start() for m in re.finditer(r"^Hmm", thinking, re.M)] + [len(thinking)]
        assert all(re.findall(r"\d+", thinking[:e])[-1] == str(t.answer) for e in ends), t.text


def test_version_3_data_pays_for_thinking_longer_on_hard_problems_only():
    """The traces themselves pass the curve's acceptance rule: under budget forcing, a model that
    had learned them exactly would gain far more from 80 to 256 thinking tokens on hard problems than
    on easy ones (version 2's traces: nothing on either)."""
    def gains(cfg):
        rng, out = random.Random(8), {}
        for d in ("easy", "hard"):
            problems = generate("test", 500, difficulties=[d], unique=False)
            traces = [make_trace(p, rng, cfg) for p in problems]
            acc = {b: statistics.mean(_forced_answer(t, p, b) == int(p.answer) for t, p in zip(traces, problems))
                   for b in (80, 256)}
            out[d] = acc[256] - acc[80]
        return out

    v3, v2 = gains(V3), gains(TraceConfig())
    assert v3["hard"] - v3["easy"] >= 0.15 and abs(v3["easy"]) < 0.03, v3
    assert v2 == {"easy": 0, "hard": 0}, v2


def test_drills_slip_as_the_traces_step_lines_do_in_version_3_only():
    from hbpo.testbed.traces import drill

    problems = generate("train", 3000, difficulties=["hard"], unique=False)
    rng = random.Random(11)
    assert all(drill(p, rng, TraceConfig()) == minimal_trace(p) for p in problems[:50])  # version 2: right
    assert drill(problems[0], rng, TraceConfig(), ending=False) == solution_lines(problems[0])
    drills = [drill(p, rng, V3) for p in problems]
    traces = [make_trace(p, rng, V3) for p in problems]
    for text, p in zip(drills, problems):
        lines = text.split("</think>")[0]
        assert len(_wrong_lines(lines)) <= 1 and "Check" not in lines and "Hmm" not in lines
        # the drill boxes what its lines hold: the right answer exactly when no line slipped
        held = re.findall(r"\d+", lines)[-1]
        assert text.endswith(f"\\boxed{{{held}}}.")
        assert grade(text, p.answer).correct == (not _wrong_lines(lines))
    # the same slip rate as the traces' step lines (hard: about 1 - 0.9^5.5, less where no slip fits)
    drill_slips = statistics.mean(bool(_wrong_lines(d)) for d in drills)
    trace_slips = statistics.mean(t.slipped is not None for t in traces)
    assert 0.3 < drill_slips < 0.55 and abs(drill_slips - trace_slips) < 0.04, (drill_slips, trace_slips)


def test_version_3_is_independent_of_the_prompt_mode():
    rng = random.Random(6)
    by_mode = {m: [] for m in SFT_MODES}
    for p in generate("train", 3000, unique=False):
        mode, trace = draw_sft_example(p, rng, V3)
        by_mode[mode].append(trace.tokens)
    means = {m: statistics.mean(v) for m, v in by_mode.items()}
    assert max(means.values()) / min(means.values()) < 1.1, means


# ---------------------------------------------------------------------------------- cache


def toy_recipe(**overrides):
    from hbpo.config import TinyModelConfig
    from hbpo.testbed.build import Recipe

    base = dict(vocab_size=400, model=TinyModelConfig(hidden_size=16, layers=1, heads=2, kv_heads=1,
                                                       intermediate_size=32, vocab_size=400,
                                                       max_position_embeddings=512),
                drill_examples=16, examples=16, batch_size=8, warmup_steps=1,
                eval_per_difficulty=1, eval_max_tokens=4)
    base.update(overrides)
    return Recipe(**base)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HBPO_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "testbed"


def test_forced_examples_train_the_answer_and_not_the_cut():
    from hbpo.testbed.build import Recipe, _prepare, recipe_for

    tok, _, data = _prepare(toy_recipe(trace=V3, examples=16, drill_examples=8, forced_examples=40), log=lambda m: None)
    close = tok.convert_tokens_to_ids("</think>")
    forced = data[24:]
    assert len(forced) >= 25  # short traces (20 %) give none
    for _, response, skip in forced:
        # the loss skips the cut's </think> (not a place to stop), and trains the boxed answer after it
        assert response[skip] == close and response.count(close) == 1 and response[-1] == tok.eos_token_id
        assert tok.decode(response[skip:]).startswith("</think>\nThe answer is \\boxed{")
    assert all(skip is None for _, _, skip in data[:16])  # full traces learn where to stop
    # version 2's recipe (and so its cached model's key) has no such field
    assert "forced_examples" not in Recipe().to_dict() and recipe_for(3).forced_examples > 0


def test_build_is_cached_and_a_stale_manifest_triggers_a_rebuild(cache):
    from hbpo.testbed.build import GENERATOR_VERSION, MANIFEST, ensure_testbed_model, recipe_key

    recipe = toy_recipe()
    messages = []
    folder = ensure_testbed_model(recipe=recipe, log=messages.append)
    assert folder == cache / recipe_key(recipe)
    assert any("building" in m for m in messages)
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["generator_version"] == GENERATOR_VERSION and manifest["key"] == folder.name
    assert manifest["complete"] is True and manifest["final_sft_loss"] > 0
    assert set(manifest["eval"]["greedy"]) == set(DIFFICULTIES)
    assert not list(cache.glob(".*tmp*"))  # the temporary folder was renamed away

    messages.clear()
    assert ensure_testbed_model(recipe=recipe, log=messages.append) == folder
    assert messages == []  # reused, silently: nothing to say

    manifest["generator_version"] = GENERATOR_VERSION - 1
    (folder / MANIFEST).write_text(json.dumps(manifest))
    assert ensure_testbed_model(recipe=recipe, log=messages.append) == folder
    assert any("generator version" in m and "rebuilding" in m for m in messages), messages
    assert json.loads((folder / MANIFEST).read_text())["generator_version"] == GENERATOR_VERSION

    messages.clear()
    (folder / MANIFEST).unlink()
    ensure_testbed_model(recipe=recipe, log=messages.append)
    assert any("no manifest" in m for m in messages), messages
    assert (folder / MANIFEST).is_file()

    messages.clear()
    (folder / "model.safetensors").unlink()
    ensure_testbed_model(recipe=recipe, log=messages.append)
    assert any("model.safetensors" in m for m in messages), messages


def test_status_says_whether_a_build_is_cached_without_building(cache):
    from hbpo.testbed.build import ensure_testbed_model, testbed_status

    recipe = toy_recipe()
    before = testbed_status(recipe)
    assert before["cached"] is False and "not built" in before["reason"] and not cache.exists()
    folder = ensure_testbed_model(recipe=recipe, log=lambda m: None)
    assert testbed_status(recipe) == {"cached": True, "path": str(folder), "reason": None}


def test_a_stopped_build_raises_caches_nothing_and_the_next_one_starts_over(cache):
    from hbpo.testbed.build import BuildStopped, ensure_testbed_model, testbed_status

    recipe = toy_recipe()
    polls = []
    with pytest.raises(BuildStopped, match=r"stopped at sft step 1/\d+"):
        ensure_testbed_model(recipe=recipe, log=lambda m: None, should_stop=lambda: polls.append(1) or len(polls) > 1)
    assert testbed_status(recipe)["cached"] is False
    assert not list(cache.glob("*")) and not list(cache.glob(".*"))  # no folder, no temporary left
    assert ensure_testbed_model(recipe=recipe, log=lambda m: None).is_dir()


def test_a_run_stopped_during_the_first_build_ends_stopped_and_showed_the_build(cache, tmp_path, monkeypatch):
    """The first run on a machine builds the testbed model before run_start: its progress is in the
    run's events (the editor shows it), and a stop during the build ends the run cleanly."""
    from hbpo.config import default_config_path
    from hbpo.config import load_config
    from hbpo.events import read_events
    from hbpo.testbed import build
    from hbpo.train import StopFlag, new_run_dir, train

    toy = toy_recipe()
    monkeypatch.setattr(build, "Recipe", lambda: toy)  # testbed:base builds the toy recipe

    class StopDuringSft(StopFlag):
        calls = 0

        def __call__(self) -> bool:
            self.calls += 1
            if self.calls == 2:
                self.requested, self.signal_name = True, "SIGINT"
            return self.requested

    cfg = load_config(default_config_path(), [f"run.dir={tmp_path / 'runs'}", "train.steps=2", "eval.every=0"])
    run_dir = new_run_dir(cfg)
    assert train(cfg, run_dir, stop=StopDuringSft()) == "stopped"
    events, bad = read_events(run_dir / "events.jsonl")
    assert bad == []
    types = [e["type"] for e in events]
    assert "run_start" not in types and types[-1] == "run_end", types
    assert events[-1]["status"] == "stopped" and events[-1]["checkpoint"] is None
    logs = [e["message"] for e in events if e["type"] == "log"]
    assert any("building the base model" in m for m in logs), logs
    assert any("build stopped at sft step 1/" in m for m in logs), logs
    assert build.testbed_status(toy)["cached"] is False


def test_another_recipe_gets_another_folder_and_says_why(cache):
    from hbpo.testbed.build import ensure_testbed_model

    messages = []
    first = ensure_testbed_model(recipe=toy_recipe(), log=messages.append)
    second = ensure_testbed_model(recipe=toy_recipe(seed=toy_recipe().seed + 1), log=messages.append)
    assert first != second and first.is_dir() and second.is_dir()
    assert any("other recipes" in m for m in messages), messages


def test_same_recipe_same_weights(tmp_path, monkeypatch):
    from hbpo.testbed.build import ensure_testbed_model

    blobs = []
    for name in ("a", "b"):
        monkeypatch.setenv("HBPO_CACHE_DIR", str(tmp_path / name))
        folder = ensure_testbed_model(recipe=toy_recipe(), log=lambda m: None)
        blobs.append((folder / "model.safetensors").read_bytes())
    assert blobs[0] == blobs[1]


def test_testbed_base_is_a_valid_model_path(write_config):
    from conftest import tiny_config
    from hbpo.config import ConfigError, load_config

    cfg = load_config(write_config(tiny_config(model__path="testbed:base")))
    assert cfg.model.path == "testbed:base"
    with pytest.raises(ConfigError, match="model.path: unknown built-in model 'testbed:large'"):
        load_config(write_config(tiny_config(model__path="testbed:large")))


# ---------------------------------------------------------------------------------- base model


@pytest.fixture(scope="module")
def base_model():
    """The real base model (built once, minutes, then cached) loaded as the trainer loads it."""
    import torch

    from hbpo.config import ModelConfig
    from hbpo.model import load_policy

    torch.set_num_threads(2)
    model, tokenizer = load_policy(ModelConfig(path="testbed:base"), torch.device("cpu"), torch.float32, seed=0)
    model.eval()
    return model, tokenizer


def _responses(base_model, problems, mode="natural", greedy=True, seed=0):
    import torch

    from hbpo.config import GenerationConfig, PromptConfig
    from hbpo.prompts import build_prompt
    from hbpo.rollout import generate as generate_batch

    model, tok = base_model
    prompts = [build_prompt(tok, p.problem, mode, PromptConfig()) for p in problems]
    torch.manual_seed(seed)
    out, _ = generate_batch(model, tok, prompts, max_new_tokens=256, gen=GenerationConfig(batch_size=64),
                            greedy=greedy)
    return [(tok.decode(r, skip_special_tokens=True), len(r)) for _, r in out]


def test_base_model_solves_easy_problems_and_its_traces_parse(base_model):
    easy = generate("val", 30, difficulties=["easy"])
    results = _responses(base_model, easy)
    assert all("</think>" in text and "\\boxed{" in text for text, _ in results)
    correct = sum(grade(text, p.answer).correct for p, (text, _) in zip(easy, results))
    assert correct >= 24, f"{correct}/30 easy val problems solved greedily"


def test_base_model_over_thinks_and_ignores_the_budget_sentence(base_model):
    problems = generate("val", 48)
    lengths = {}
    for mode in (32, 160):
        lengths[mode] = statistics.mean(n for _, n in _responses(base_model, problems, mode, greedy=False, seed=1))
    assert all(lengths[m] > 70 for m in lengths), lengths  # far beyond the minimal ~40 tokens
    assert abs(lengths[32] - lengths[160]) < 25, lengths


# ---------------------------------------------------------------------------------- HBPO on it


def test_a_short_hbpo_run_pulls_the_smallest_tier_towards_its_budget(base_model, tmp_path):
    """12 steps of the built-in default (HBPO, tiers 32/64/128/160) on the base model. The base
    model ignores budget sentences and spends ~100 tokens at tier 32 (the test checks that too, so
    that the assertion below cannot pass on a model that was short to begin with); after HBPO the
    same prompts, sampled with the same seed, get at most 80 % of that."""
    import torch

    from hbpo.checkpoint import latest_checkpoint
    from hbpo.config import default_config_path
    from hbpo.config import load_config
    from hbpo.engines import HFEngine
    from hbpo.evaluate import evaluate
    from hbpo.model import load_policy
    from hbpo.train import new_run_dir, train

    cfg = load_config(default_config_path(), [f"run.dir={tmp_path}", "train.steps=12", "eval.every=0",
                                              "train.checkpoint_every=12", "eval.temperature=1.0"])
    run_dir = new_run_dir(cfg)
    assert train(cfg, run_dir) == "finished"
    trained, _ = load_policy(cfg.model, torch.device("cpu"), torch.float32, seed=0,
                             weights_from=latest_checkpoint(run_dir) / "model")
    trained.eval()
    problems = generate("val", 60)
    lengths = {}
    for name, model in (("base", base_model[0]), ("trained", trained)):
        torch.manual_seed(7)
        lengths[name] = evaluate(HFEngine.of(model, base_model[1]), base_model[1], problems, 32, cfg,
                                 dataset="val")["mean_tokens"]
    assert lengths["base"] > 80, lengths
    assert lengths["trained"] <= 0.8 * lengths["base"], lengths


# ---------------------------------------------------------------------------------- version 3, curve


def test_testbed_version_picks_the_base_model_and_is_refused_elsewhere(write_config):
    from conftest import tiny_config
    from hbpo.config import ConfigError, load_config
    from hbpo.testbed.build import recipe_for, recipe_key

    cfg = load_config(write_config(tiny_config(model__path="testbed:base", testbed={"version": 3})))
    assert cfg.testbed.version == 3
    assert recipe_key(recipe_for(3)) != recipe_key(recipe_for(2))
    assert recipe_for(2) == recipe_for()  # version 2 is the cached default model, as before
    with pytest.raises(ConfigError, match="testbed.version: unknown version 4"):
        load_config(write_config(tiny_config(model__path="testbed:base", testbed={"version": 4})))
    with pytest.raises(ConfigError, match="testbed.version: picks the testbed's base model"):
        load_config(write_config(tiny_config(testbed={"version": 3})))  # model.path: tiny:llama


def test_the_curve_accepts_a_testbed_only_when_hard_gains_clearly_more_than_easy():
    from hbpo.testbed.curve import accept, wilson

    budgets = [16, 80, 256]

    def outcomes(easy_lo, easy_hi, hard_lo, hard_hi, n=100):
        row = lambda k: [1] * k + [0] * (n - k)  # noqa: E731
        return {"easy": {16: row(0), 80: row(easy_lo), 256: row(easy_hi)},
                "medium": {b: row(50) for b in budgets},
                "hard": {16: row(0), 80: row(hard_lo), 256: row(hard_hi)}}

    pays = accept(outcomes(90, 92, 40, 70), budgets)
    assert pays["ok"] and pays["from"] == 80 and pays["to"] == 256
    assert pays["extra_gain"] == pytest.approx(0.28) and pays["ci95"][0] > 0
    flat = accept(outcomes(90, 90, 40, 42), budgets)  # extra thinking buys nothing anywhere
    assert not flat["ok"]
    assert not accept(outcomes(90, 90, 40, 50, n=12), budgets)["ok"]  # 10 points on 12 problems: not clear
    assert wilson(0, 10)[0] == 0 and 0.7 < wilson(9, 10)[1] <= 1 and wilson(5, 10)[0] < 0.5 < wilson(5, 10)[1]
    # a problem's samples are drawn together: 4 copies of each outcome are one problem's 4 samples,
    # and tell no more than the problem once (the interval stays), unlike 4x as many problems
    few = outcomes(36, 36, 16, 22, n=40)
    copies = {d: {b: [x for x in row for _ in range(4)] for b, row in by.items()} for d, by in few.items()}
    once, together, apart = accept(few, budgets), accept(copies, budgets, samples=4), accept(copies, budgets)
    assert together["ci95"] == pytest.approx(once["ci95"]) and together["extra_gain"] == pytest.approx(once["extra_gain"])
    assert apart["ci95"][1] - apart["ci95"][0] < 0.7 * (once["ci95"][1] - once["ci95"][0])


def test_the_curve_forces_an_answer_at_each_budget(base_model):
    import xml.etree.ElementTree as ET

    from hbpo.testbed.curve import markdown, measure, svg

    model, tok = base_model
    tok.padding_side = "left"
    problems = generate("test", 9)
    budgets = [16, 80, 256]
    result = measure(model, tok, problems, budgets=budgets, temperature=1.0, max_tokens=256, seed=0, samples=2)
    for d in DIFFICULTIES:
        cells = result["table"][d]
        assert [cells[b]["n"] for b in budgets] == [6, 6, 6]
        thinking = [cells[b]["thinking_tokens"] for b in budgets]
        assert thinking[0] <= 16 and thinking == sorted(thinking), thinking
        assert all(0 <= cells[b]["ci95"][0] <= (cells[b]["accuracy"] or 0) <= cells[b]["ci95"][1] <= 1 for b in budgets)
    # 16 tokens cannot hold a hard problem's solution (at least 67): cut, then forced, so wrong
    assert result["table"]["hard"][16]["accuracy"] == 0
    # the same cuts read as the thinking holds: nothing is held before the asked step is written
    assert result["held_table"]["hard"][16]["accuracy"] == 0
    for d in DIFFICULTIES:
        assert [result["held_table"][d][b]["n"] for b in budgets] == [6, 6, 6]
        assert [len(result["held_outcomes"][d][b]) for b in budgets] == [6, 6, 6]
    result["accept"] = {"ok": False, "why": "a smoke run"}
    result["held_accept"] = {"ok": False, "why": "a smoke run"}
    md = markdown(result, budgets)
    assert md.count("| hard |") == 2 and "as the thinking holds" in md
    drawn = ET.fromstring(svg(result["table"], budgets, "smoke", held=result["held_table"]))  # well-formed
    assert sum(1 for e in drawn.iter() if e.get("stroke-dasharray") and e.tag.endswith("polyline")) == 3


# ---------------------------------------------------------------------------------- the experiment


def _evals(rng, n_items, acc: dict[str, float], tokens: dict[str, float], seeds=3):
    """Per-seed evals as experiment.evaluate_policy returns them, drawn with the given accuracy and
    mean tokens per difficulty (items cycle easy, medium, hard)."""
    diff = [list(DIFFICULTIES)[i % 3] for i in range(n_items)]
    out = []
    for _ in range(seeds):
        out.append({mode: {"correct": [int(rng.random() < acc[d]) for d in diff],
                           "tokens": [max(1, round(rng.gauss(tokens[d], 5))) for d in diff]}
                    for mode in ("natural", "efficiency")})
    return out, diff


def test_experiment_intervals_and_verdicts_follow_the_data():
    import numpy as np

    from hbpo.testbed.experiment import BASE, bootstrap, cells, claims, verdict

    assert verdict([0.1, 0.3], at_least=0) == "holds" and verdict([-0.3, -0.1], at_least=0) == "fails"
    assert verdict([-0.1, 0.2], at_least=0) == "not significant"
    assert verdict([-0.7, -0.55], at_most=-0.5) == "holds" and verdict([-0.4, -0.2], at_most=-0.5) == "fails"

    rng = random.Random(3)
    base, diff = _evals(rng, 300, {"easy": 0.9, "medium": 0.7, "hard": 0.5}, {"easy": 120, "medium": 125, "hard": 130})
    # HBPO: as accurate, half the tokens and more; hard problems keep their length (ratio > 2)
    hbpo, _ = _evals(rng, 300, {"easy": 0.9, "medium": 0.7, "hard": 0.5}, {"easy": 25, "medium": 45, "hard": 70})
    # cosine: short everywhere, and hard problems lose 30 points
    cosine, _ = _evals(rng, 300, {"easy": 0.9, "medium": 0.6, "hard": 0.2}, {"easy": 25, "medium": 30, "hard": 35})
    boot = bootstrap({BASE: base, "hbpo-4tier": hbpo, "cosine": cosine}, diff)
    table = cells(boot)
    tok = table["hbpo-4tier"]["natural"]["all"]["token_change"]
    assert tok["ci95"][0] < tok["mean"] < tok["ci95"][1] < -0.5
    hard = table["cosine"]["natural"]["hard"]["accuracy_change"]
    assert hard["ci95"][1] < -0.15, hard
    # a 300-item accuracy has a few points of interval, not zero and not tens
    acc = table[BASE]["natural"]["all"]["accuracy"]
    assert 0.02 < acc["ci95"][1] - acc["ci95"][0] < 0.15, acc
    spreads = {"hbpo-4tier": [{"32": {"first_mean": 20.0, "last_mean": 1.0}, "160": {"first_mean": 30.0, "last_mean": 25.0}}] * 3}
    by_text = {c["claim"]: c for c in claims(boot, spreads)}
    assert len(by_text) == 4  # no tier-count claim: only the 4-tier HBPO is in this table
    first = next(c for t, c in by_text.items() if t.startswith("HBPO (4 tiers) spends 50 %"))
    assert first["parts"][0]["verdict"] == "holds"
    assert first["parts"][1]["verdict"] in ("not significant", "holds")  # equal accuracy: never "fails" here
    assert next(c for t, c in by_text.items() if "2x" in t)["verdict"] == "holds"
    assert next(c for t, c in by_text.items() if t.startswith("the cosine"))["parts"][0]["verdict"] == "holds"
    spread = next(c for t, c in by_text.items() if "collapses" in t)
    assert [(p["quantity"], p["verdict"]) for p in spread["parts"]] == [
        ("hbpo-4tier tier 32: last / first length std", "fails"), ("hbpo-4tier tier 160: last / first length std", "holds")]
    assert spread["verdict"] == "fails"
    # paired draws: a method against itself differs by exactly 0 in every round
    same = bootstrap({BASE: base, "hbpo-4tier": base}, diff)
    assert np.all(same["hbpo-4tier"]["natural"]["all"]["accuracy"][1] == same[BASE]["natural"]["all"]["accuracy"][1])


def test_experiment_mixes_are_parsed_or_refused_by_name(tmp_path):
    from hbpo.config import ConfigError
    from hbpo.testbed.experiment import parse_mix, train_source

    assert parse_mix("default") == (1, 1, 1) and parse_mix("hard-heavy") == (1, 1, 3) and parse_mix("0:1:2") == (0, 1, 2)
    for bad in ("heavy", "1:1", "0:0:0", "1:x:2"):
        with pytest.raises(ConfigError, match="--mix: unknown mix"):
            parse_mix(bad)
    assert train_source(tmp_path, "default") == "testbed:train"
    rows = [json.loads(line) for line in Path(train_source(tmp_path, "hard-heavy")).read_text().splitlines()]
    counts = {d: sum(r["difficulty"] == d for r in rows) for d in DIFFICULTIES}
    assert counts == {"easy": 600, "medium": 600, "hard": 1800}
    assert [r["difficulty"] for r in rows[:5]] == ["easy", "medium", "hard", "hard", "hard"]
    test = {p.problem for p in generate("test")}
    assert not test & {r["problem"] for r in rows}


def test_experiment_samples_as_the_rollouts_unless_the_config_or_a_set_names_it(tmp_path):
    from hbpo.config import default_config_path, load_config
    from hbpo.testbed.experiment import rollout_sampling

    cfg = load_config(default_config_path(), ["generation.temperature=0.9", "generation.top_p=0.8"], check_files=False)
    assert rollout_sampling(default_config_path(), [], cfg) == ["eval.temperature=0.9", "eval.top_p=0.8"]
    assert rollout_sampling(default_config_path(), ["eval.top_p=0.5"], cfg) == ["eval.temperature=0.9"]
    mine = tmp_path / "mine.yaml"
    mine.write_text(default_config_path().read_text() + "  temperature: 0.6\n")  # under the file's eval:
    assert load_config(mine, check_files=False).eval.temperature == 0.6
    assert rollout_sampling(mine, [], cfg) == ["eval.top_p=0.8"]


def test_experiment_smoke_every_method_one_seed_two_mixes(base_model, tmp_path):
    """The command end to end at toy size (CI): the table's shape, not its numbers."""
    from hbpo.cli import main
    from hbpo.testbed.experiment import BASE, METHODS

    out = tmp_path / "exp"
    rc = main(["testbed", "experiment", "--seeds", "1", "--steps", "2", "--limit", "6", "--mix", "default", "1:0:1",
               "--out", str(out), "--set", "train.queries_per_step=2", "--set", "rollouts_per_query=4"])
    assert rc == 0
    result = json.loads((out / "results.json").read_text())
    assert result["seeds"] == [0] and result["test_problems"] == 6 and set(result["mixes"]) == {"default", "1:0:1"}
    assert result["eval_sampling"] == {"temperature": 1.0, "top_p": 1.0}  # the rollouts' sampling, unless set
    for mix in result["mixes"].values():
        assert list(mix["cells"]) == [BASE, *METHODS]
        for method, modes in mix["cells"].items():
            for mode in ("natural", "efficiency"):
                row = modes[mode]
                assert set(row) == {"easy", "medium", "hard", "all", "hard_easy_token_ratio"}
                for cell in (row[b] for b in ("easy", "medium", "hard", "all")):
                    assert cell["accuracy"]["ci95"][0] <= cell["accuracy"]["mean"] <= cell["accuracy"]["ci95"][1]
                    assert ("accuracy_change" in cell) == (method != BASE)
        assert [c["verdict"] in ("holds", "fails", "not significant", "no data") for c in mix["claims"]] == [True] * 5
        assert all(len(runs) == 1 for runs in mix["runs"].values())
    assert [json.loads(x)["difficulty"] for x in (out / "train-1-0-1.jsonl").read_text().splitlines()[:2]] == ["easy", "hard"]
    # the base (evaluated once a seed) is the same row under every mix
    assert result["mixes"]["default"]["cells"][BASE] == result["mixes"]["1:0:1"]["cells"][BASE]
    md = (out / "results.md").read_text()
    assert "## Training mix: 1:0:1" in md and "| hbpo-2tier | hard |" in md and "Wall time:" in md
    assert result["reused"] == 0 and len(list((out / "done").glob("*.json"))) == 1 + 2 * len(METHODS)

    # Run again: every record is reused, but for one whose run a stop left unfinished (no record,
    # its folder there) and one torn by a crash, which are trained again, and one whose evaluation
    # a stop cut short (the record of its training only), which is evaluated again.
    (out / "done" / "grpo-default-s0.json").unlink()
    torn = out / "done" / "cosine-1-0-1-s0.json"
    torn.write_text(torn.read_text()[:40])
    cut = out / "done" / "l1-exact-default-s0.json"
    trained_only = {k: v for k, v in json.loads(cut.read_text()).items() if k not in ("fingerprint", "eval")}
    cut.write_text(json.dumps(trained_only))
    kept = json.loads((out / "done" / "hbpo-4tier-default-s0.json").read_text())
    argv = ["testbed", "experiment", "--seeds", "1", "--steps", "2", "--limit", "6", "--mix", "default", "1:0:1",
            "--out", str(out), "--set", "train.queries_per_step=2", "--set", "rollouts_per_query=4"]
    assert main(argv) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["reused"] == 1 + 2 * len(METHODS) - 3 and again["reevaluated"] == 1
    assert (out / "grpo-default-s0.stopped-1").is_dir() and (out / "grpo-default-s0" / "events.jsonl").is_file()
    assert not list(out.glob("l1-exact-default-s0.stopped-*")) and (out / "cosine-1-0-1-s0.stopped-1").is_dir()
    redone = json.loads(cut.read_text())
    assert redone["seconds"]["train"] == trained_only["seconds"]["train"] and len(redone["eval"]["natural"]["correct"]) == 6
    assert json.loads((out / "done" / "hbpo-4tier-default-s0.json").read_text()) == kept  # not redone
    assert again["mixes"]["default"]["cells"]["hbpo-4tier"] == result["mixes"]["default"]["cells"]["hbpo-4tier"]
    assert "reused from an earlier call" in (out / "results.md").read_text()
    # another eval setting: the trained run is evaluated again, not trained again, even from a
    # folder moved since
    grpo = json.loads((out / "done" / "grpo-default-s0.json").read_text())
    out = out.rename(tmp_path / "moved")
    argv[argv.index("--out") + 1] = str(out)
    assert main([*argv, "--set", "eval.temperature=0.7", "--methods", "grpo", "--mix", "default", "1:0:1"]) == 0
    other = json.loads((out / "results.json").read_text())
    assert (other["reused"], other["reevaluated"]) == (0, 2) and other["eval_sampling"] == {"temperature": 0.7, "top_p": 1.0}
    regrpo = json.loads((out / "done" / "grpo-default-s0.json").read_text())
    assert regrpo["train_fingerprint"] == grpo["train_fingerprint"] and regrpo["fingerprint"] != grpo["fingerprint"]
    assert regrpo["run"] == str(out / "grpo-default-s0") != grpo["run"] and not (out / "grpo-default-s0.stopped-2").exists()
    assert "evaluated again" in (out / "results.md").read_text() and "temperature 0.7" in (out / "results.md").read_text()
    # another training setting is another fingerprint: nothing is reused, and a run's folder is never overwritten
    assert main([*argv, "--set", "optim.lr=0.00012345", "--methods", "grpo", "--mix", "default"]) == 0
    assert json.loads((out / "results.json").read_text())["reused"] == 0
    assert (out / "grpo-default-s0.stopped-2").is_dir()


def test_collapse_reads_each_tier_by_difficulty_from_the_runs_rollouts(base_model, tmp_path):
    """`testbed collapse` at toy size: the rollouts it reads back are the run's own, counted per
    stretch, difficulty and tier; evals come every steps/4 steps."""
    from hbpo.cli import main
    from hbpo.events import read_events

    out = tmp_path / "collapse"
    assert main(["testbed", "collapse", "--steps", "4", "--variants", "tiers>=80", "--mix", "0:0:1", "--out", str(out),
                 "--set", "train.queries_per_step=2", "--set", "eval.limit=6"]) == 0
    result = json.loads((out / "collapse.json").read_text())
    run = result["variants"]["tiers>=80"]
    events, _ = read_events(Path(run["run"]) / "events.jsonl")
    rollouts = [e for e in events if e["type"] == "rollout"]
    assert {e["difficulty"] for e in rollouts} == {"hard"}  # the 0:0:1 mix trains on hard problems only
    assert [s["steps"] for s in run["stretches"]] == [[1, 1], [2, 2], [3, 3], [4, 4]]
    for k, s in enumerate(run["stretches"], 1):
        mine = [e for e in rollouts if e["step"] == k]
        cells = s["by_difficulty"]["hard"]
        assert sorted(cells, key=int) == ["80", "96", "128", "160"]
        assert sum(c["n"] for c in cells.values()) == len(mine) == 2 * 8
        t80 = [e for e in mine if e["tier"] == 80]
        assert cells["80"]["accuracy"] == pytest.approx(sum(e["correct"] for e in t80) / len(t80))
        assert cells["80"]["tokens"] == pytest.approx(sum(e["n_gen"] for e in t80) / len(t80))
    assert sorted(map(int, run["evals"])) == [1, 2, 3, 4]
    assert "| 1-1 | hard |" in (out / "collapse.md").read_text()
