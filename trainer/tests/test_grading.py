"""Answer extraction and math-verify grading, on hand cases and on every real benchmark record.

The real benchmarks live in ../shared/data/benchmarks (relative to the repo root); those tests
skip with a message where the folder is absent. Grading all 2,607 records (one right and one
or two wrong responses each) takes about 12 s on two cores, so the default run grades all of
them, not a subset.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import io
import json
import re
import select
import subprocess
import time
from pathlib import Path

import pytest
from sympy import Basic
from sympy.matrices import MatrixBase

from hbpo import grading
from conftest import benchmark, hbpo_cmd
from hbpo.data import load_problems
from hbpo.grading import MAX_ANSWER_CHARS, Grade, extract_answer, grade, normalize_ground_truth

BENCHMARK_FILES = {"gsm8k": 1319, "math": 500, "aime": 30, "amc": 83, "olympiad_bench": 675}



# ----------------------------------------------------------------------------- extraction


@pytest.mark.parametrize("text, expected", [
    (r"so \boxed{42}", "42"),
    (r"\boxed{\frac{a}{\sqrt{b}}}", r"\frac{a}{\sqrt{b}}"),                 # nested braces
    (r"\boxed{\left\{ x^{2} \right\}}", r"\left\{ x^{2} \right\}"),        # escaped braces
    (r"\boxed{\{1,2\}}", r"\{1,2\}"),
    (r"\boxed{\left\{ \begin{array}{l} x=1 \\ y=2 \end{array} \right.} \}",  # lone \{
     r"\left\{ \begin{array}{l} x=1 \\ y=2 \end{array} \right."),
    (r"\boxed{1 \\{2}}", r"1 \\{2}"),                                     # \\ then a group
    (r"first \boxed{1} then \boxed{2}", "2"),                               # last one wins
    (r"\boxed{1} and \fbox{3}", "3"),
    (r"\fbox{7}", "7"),
    (r"The answer is \boxed 5 apples", "5"),                                # space form
    (r"\boxed 5 then \boxed{6}", "6"),
    (r"\boxed{6} then \boxed 5$.", "5"),
    (r"\boxed {9}", "9"),
    (r"$\boxed{ 12 }$.", "12"),                                             # stripped
    ("She pays 3 * 411 = 1233.\n#### 1,234", "1,234"),                      # GSM8K style
    ("#### 5\nmore text\n#### 6.", "6"),                                     # last marker wins
    ("#### 5\n####   \n", "5"),                                              # empty marker skipped
    (r"\boxed{1} ... #### 2", "1"),                                          # boxed beats ####
    (r"\boxed{1} then \boxed{2 + \frac{1}{", "1"),                           # truncated last box
    (r"\boxed{} and \boxed{  }", None),                                      # empty boxes
    (r"\boxed{3} and \boxed{}", "3"),
    ("no answer here", None),
    ("", None),
    (r"\boxedx{3}", None),
])
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_extract_prefers_text_after_last_think_close():
    text = (r"<think>maybe \boxed{1}</think> hmm <think>or \boxed{2}</think>"
            r" The answer is \boxed{3}. Double-check: 3.")
    assert extract_answer(text) == "3"
    # The final answer follows the reasoning: a box after </think> beats later-looking ones inside.
    assert extract_answer(r"<think>\boxed{9}</think> \boxed{4}") == "4"
    # Nothing after </think>: fall back to the whole response.
    assert extract_answer(r"<think>I get \boxed{9}</think> I am not sure.") == "9"
    # No </think> at all (a truncated response): the whole text.
    assert extract_answer(r"<think>\boxed{8} and then \boxed{9}") == "9"
    # A #### after </think> beats a box inside the reasoning.
    assert extract_answer("<think>\\boxed{1}</think>\n#### 2") == "2"


def test_extract_answer_rejects_non_strings():
    assert extract_answer(None) is None  # type: ignore[arg-type]
    assert extract_answer(b"\\boxed{1}") is None  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- grading


def test_grade_is_a_frozen_dataclass():
    g = grade(r"\boxed{2}", "2")
    assert g == Grade(correct=True, extracted="2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.correct = False  # type: ignore[misc]


def test_no_answer_is_incorrect_with_nothing_extracted():
    assert grade("I think it is 2.", "2") == Grade(False, None)
    assert grade("<think>2</think>", "2") == Grade(False, None)
    assert grade("", "2") == Grade(False, None)


def test_last_boxed_wins_when_grading():
    assert grade(r"\boxed{3} no wait \boxed{2}", "2") == Grade(True, "2")
    assert grade(r"\boxed{2} no wait \boxed{3}", "2") == Grade(False, "3")


def test_answer_inside_reasoning_is_overridden_by_final_answer():
    assert grade(r"<think>\boxed{2}</think> Final: \boxed{3}", "2") == Grade(False, "3")
    assert grade(r"<think>\boxed{3}</think> Final: \boxed{2}", "2") == Grade(True, "2")


def test_gsm8k_marker_with_thousands_separator():
    assert grade("4 * 308.5 = 1234\n#### 1,234", "1234") == Grade(True, "1,234")
    assert grade("#### 1234", "1,234").correct
    assert grade("#### $1,234.", "1234").correct
    assert not grade("#### 1,235", "1234").correct
    assert not grade("#### 1,234", "1235").correct


# What math-verify 0.9 decides, one row per behaviour: (gold, predicted, equal?). The grader adds
# no rules of its own; these rows are what a user can expect, including the refusals.
EQUIVALENCES = [
    (r"\frac{1}{2}", "0.5", True),
    ("0.5", r"\frac{1}{2}", True),
    (r"\frac12", "1/2", True),
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3,\pi/2)", True),
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3,\pi)", False),
    (r"\left( 3, \frac{\pi}{2} \right)", r"(\pi/2, 3)", False),             # tuples are ordered
    (r"90^\circ", "90", True),
    ("106", r"106^\circ", True),
    ("106", r"106^{\circ}", True),
    (r"\$18.90", "18.90", True),
    (r"\$18.90", "18.9", True),
    ("18", r"\$18", True),
    (r"\$32,\!348", "32348", True),
    ("025", "25", True),                                                    # AIME's padded answers
    ("142", "142.0", True),
    ("2,125", "2125", True),
    ("1,-2", "-2, 1", True),                                                # sets: unordered
    ("1,-2", "1", False),
    ("3, 5, 7", "3, 5", False),
    ("x=5", "5", True),
    (r"\text{Evelyn}", r"\text{Evelyn}", True),
    (r"\text{Evelyn}", r"\text{Bob}", False),
    ("6 - 5i", "-5i+6", True),
    (r"3\sqrt{13}", r"\sqrt{117}", True),
    (r"\frac{14}{3}", "4.666667", True),                                    # 6 decimal places
    (r"\frac{14}{3}", "4.67", False),                                       # too coarse
    (r"\pi", "3.14159265", True),
    (r"10\%", "10", True),
    ("4.2", r"4.2\%", False),
    ("x^3+3x-6", "-6+3x+x^3", True),
    (r"[-2, 7]", r"[-2,7]", True),
    (r"[-2, 7]", r"(-2,7)", False),                                         # interval ends matter
    ("$f(n)=n$, $g(n)=1$", "f(n)=n, g(n)=1", True),                          # OlympiadBench multi
    ("$f(n)=n$, $g(n)=1$", "f(n)=n", False),
]


@pytest.mark.parametrize("gold, pred, equal", EQUIVALENCES)
def test_equivalent_forms_follow_math_verify(gold, pred, equal):
    result = grade(f"<think>work</think> The answer is $\\boxed{{{pred}}}$.", gold)
    assert result.extracted == pred
    assert result.correct is equal


def test_ground_truth_numbers_and_lists_are_accepted():
    assert grade(r"\boxed{142}", 142.0).correct  # type: ignore[arg-type]
    assert grade(r"\boxed{3,5}", ["3", "5"]).correct  # type: ignore[arg-type]
    assert grade(r"\boxed{3}", None) == Grade(False, "3")  # type: ignore[arg-type]
    assert grade(r"\boxed{3}", "   ") == Grade(False, "3")


def test_gold_is_parsed_once_per_string(monkeypatch):
    calls: list[str] = []
    real_parse = grading.parse

    def counting_parse(text, *args, **kwargs):
        calls.append(text)
        return real_parse(text, *args, **kwargs)

    monkeypatch.setattr(grading, "parse", counting_parse)
    grading._parse_gold_cached.cache_clear()
    gold = r"\frac{7}{13}"
    for k in range(16):
        grade(f"\\boxed{{{k}}}", gold)
    gold_parses = [c for c in calls if c == f"\\boxed{{{gold}}}"]
    assert len(gold_parses) == 1
    assert len(calls) == 17  # one gold parse + 16 predictions


UNTRUSTED = [
    "<html><body><script>alert('\\boxed{1}')</script></body></html>",
    "<think>" + "\\boxed{" * 5000,                                            # never closed
    "\\boxed{" + "{" * 3000 + "}" * 3000 + "}",                              # deep nesting
    "\\boxed{" + "\\frac{" * 400 + "}{2}" * 400 + "}",
    "\\boxed{\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}}",
    "\\boxed{\\x00\x00\x01\ud800 \u202e}",                                 # control / lone surrogate
    "\\boxed{$$$$}", "\\boxed{\\\\\\\\}", "\\boxed{^_^}", "\\boxed{\\left(}",
    "\\boxed{" + "9" * 900 + "}",                                           # long number
    "\\boxed{" + "x" * (MAX_ANSWER_CHARS + 1) + "}",                          # over the cap
    "lorem ipsum " * 100_000 + "\\boxed{2}",                                 # ~1.2 MB response
    "#### " + "1," * 2000,
    "\\boxed{__import__('os').system('echo pwned')}",
    "\\boxed{\\input{/etc/passwd}}",
]


@pytest.mark.parametrize("text", UNTRUSTED, ids=lambda t: repr(t[:24]))
def test_untrusted_text_never_raises(text):
    result = grade(text, "2")
    assert isinstance(result, Grade)
    assert isinstance(result.correct, bool)


@pytest.mark.parametrize("text", [
    "####\n" * 200_000, "\\boxed $" * 100_000, "\\boxed{" * 200_000, "\\fbox{}" * 100_000,
    "\\boxed " * 200_000, "{" * 500_000, "}" * 500_000, "\\" * 500_000, "</think>" * 100_000,
], ids=lambda t: repr(t[:8]))
def test_extraction_is_linear_on_adversarial_megabytes(text):
    start = time.perf_counter()
    extract_answer(text)
    assert grade(text, "1").correct is False
    # ~1 s here; a quadratic scan of a megabyte would take many minutes
    assert time.perf_counter() - start < 5


def test_long_response_still_finds_its_answer():
    text = "lorem ipsum " * 100_000 + "</think>\\boxed{2}"
    start = time.perf_counter()
    assert grade(text, "2") == Grade(True, "2")
    assert time.perf_counter() - start < 5


def test_failed_gold_parse_is_not_cached(monkeypatch):
    grading._parse_gold_cached.cache_clear()
    real_parse = grading.parse
    outcomes = iter(["timeout", "real", "real"])

    def flaky_parse(text, *args, **kwargs):
        if next(outcomes) == "timeout":
            raise grading.TimeoutException("loaded machine")
        return real_parse(text, *args, **kwargs)

    monkeypatch.setattr(grading, "parse", flaky_parse)
    assert grade(r"\boxed{2}", r"\frac{4}{2}") == Grade(False, "2")  # gold parse timed out
    assert grade(r"\boxed{2}", r"\frac{4}{2}") == Grade(True, "2")   # retried, now cached
    grading._parse_gold_cached.cache_clear()


def test_answer_longer_than_cap_is_incorrect_without_parsing(monkeypatch):
    calls: list[str] = []
    real_parse = grading.parse

    def counting_parse(text, *args, **kwargs):
        calls.append(text)
        return real_parse(text, *args, **kwargs)

    grading._parse_gold_cached.cache_clear()
    monkeypatch.setattr(grading, "parse", counting_parse)
    long_answer = "1" + "0" * MAX_ANSWER_CHARS
    assert grade(f"\\boxed{{{long_answer}}}", long_answer) == Grade(False, long_answer)
    assert calls == []
    at_cap = "1" + "0" * (MAX_ANSWER_CHARS - 1)
    assert grade(f"\\boxed{{{at_cap}}}", at_cap) == Grade(True, at_cap)
    grading._parse_gold_cached.cache_clear()


def test_math_verify_errors_count_as_incorrect(monkeypatch):
    grading._parse_gold_cached.cache_clear()

    def boom(*args, **kwargs):
        raise RecursionError("deep")

    monkeypatch.setattr(grading, "verify", boom)
    assert grade(r"\boxed{2}", "2") == Grade(False, "2")

    def times_out(*args, **kwargs):
        raise grading.TimeoutException("slow")  # a BaseException, not an Exception

    monkeypatch.setattr(grading, "verify", times_out)
    assert grade(r"\boxed{2}", "2") == Grade(False, "2")
    monkeypatch.setattr(grading, "parse", times_out)
    grading._parse_gold_cached.cache_clear()
    assert grade(r"\boxed{2}", "2") == Grade(False, "2")
    grading._parse_gold_cached.cache_clear()


def test_pathological_answer_times_out_on_the_main_thread():
    # sympy would try to evaluate this tower for hours; math-verify's alarm stops it.
    start = time.perf_counter()
    assert grade(r"\boxed{10^{10^{10^{10}}}}", "5") == Grade(False, "10^{10^{10^{10}}}")
    assert time.perf_counter() - start < 3 * grading.TIMEOUT_S + 5


def test_grading_works_off_the_main_thread():
    # math-verify's signal-based timeout cannot run off the main thread; grading must still
    # give right answers there instead of silently grading everything wrong.
    jobs = [(r"\boxed{0.5}", r"\frac{1}{2}"), (r"\boxed{3}", r"\frac{1}{2}"),
            (r"#### 1,234", "1234"), ("nothing", "1")]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda job: grade(*job), jobs))
    assert [r.correct for r in results] == [True, False, True, False]


# ----------------------------------------------------------------------------- ground truth


@pytest.mark.parametrize("value, expected", [
    (142.0, "142"), (-4.0, "-4"), (0.0, "0"), (2.5, "2.5"), (7, "7"), (" 9 ", "9"),
    (["$2$"], "$2$"), (["$3$", "$5$"], "$3$, $5$"), (("1", 2.0), "1, 2"),
])
def test_normalize_ground_truth(value, expected):
    assert normalize_ground_truth(value) == expected


@pytest.mark.parametrize("value", [None, True, "", "  ", [], float("nan"), float("inf"), {"a": 1},
                                   ["1", None]])
def test_normalize_ground_truth_rejects(value):
    with pytest.raises(ValueError):
        normalize_ground_truth(value)


# ----------------------------------------------------------------------------- real benchmarks

# Records math-verify cannot verify properly, found by grading every record (keep exact, so a
# math-verify upgrade or a grader change that fixes or breaks one shows up here):
# - the gold parses to no math object, only to its raw string, so only a character-identical
#   answer grades correct (string comparison);
STRING_ONLY_GOLDS = {
    ("olympiad_bench", "1782"): r"$m_{\max }=n^{2}-n-1$",
    ("olympiad_bench", "2045"): r"$t(0,4]$",
}
# - math-verify lower-cases symbols, so "$N=n$" parses as the tautology n = n and accepts
#   wrong answers such as "N=n+1" (see test_known_misgrade_of_olympiad_2212).
WRONG_ACCEPTED = {("olympiad_bench", "2212")}

INTEGER = re.compile(r"-?\d+")


def _wrong_answers(answer: str) -> list[str]:
    """Answers that must grade wrong: a text box, and the gold perturbed by one."""
    wrong = [r"\text{nope}"]
    plain = answer.replace(",", "")
    if INTEGER.fullmatch(plain):
        wrong.append(str(int(plain) + 1))
    else:
        wrong.append(answer.replace("$", "") + " + 1")
    return wrong


@pytest.mark.parametrize("name", sorted(BENCHMARK_FILES))
def test_every_benchmark_record_grades(name):
    problems = load_problems(benchmark(name))
    assert len(problems) == BENCHMARK_FILES[name]
    right_failed, wrong_passed, string_only = [], [], {}
    for p in problems:
        gold = grading._parse_gold(p.answer)
        if not any(isinstance(g, (Basic, MatrixBase)) for g in gold):
            string_only[(name, p.id)] = p.answer
        response = ("<think>\nLet me work through it. First guess \\boxed{-12345}.\n</think>\n"
                    f"The answer is \\boxed{{{p.answer}}}")
        result = grade(response, p.answer)
        if not result.correct or result.extracted != p.answer:
            right_failed.append((p.id, p.answer, result))
        for wrong in _wrong_answers(p.answer):
            if grade(f"<think>hmm</think> The answer is \\boxed{{{wrong}}}", p.answer).correct:
                wrong_passed.append((name, p.id))
    assert right_failed == []
    assert set(wrong_passed) == {k for k in WRONG_ACCEPTED if k[0] == name}
    assert string_only == {k: v for k, v in STRING_ONLY_GOLDS.items() if k[0] == name}


def test_known_misgrade_of_olympiad_2212():
    problems = {p.id: p for p in load_problems(benchmark("olympiad_bench"))}
    gold = problems["2212"].answer
    assert gold == "$N=n$"
    assert grade(r"\boxed{N=n}", gold).correct
    assert grade(r"\boxed{N=n+1}", gold).correct  # wrong, but math-verify accepts it
    assert not grade(r"\boxed{N=2n}", gold).correct


def test_string_only_golds_need_identical_text():
    problems = {p.id: p for p in load_problems(benchmark("olympiad_bench"))}
    gold = problems["1782"].answer
    assert grade(f"\\boxed{{{gold}}}", gold).correct
    # the same value written another way is not recognised
    assert not grade(r"\boxed{m_{\max}=n^2-n-1}", gold).correct


def test_gsm8k_answers_grade_in_gsm8k_style():
    problems = load_problems(benchmark("gsm8k"))
    for p in problems[:200]:
        assert grade(f"Some steps.\n#### {p.answer}", p.answer).correct, p.id
    with_commas = [p for p in problems if "," in p.answer]
    assert len(with_commas) == 14
    for p in with_commas:
        assert grade(f"\\boxed{{{p.answer.replace(',', '')}}}", p.answer).correct, p.id


# ----------------------------------------------------------------------------- python -m hbpo grade

GRADE_CASES = [  # (id, text, ground_truth): ids of several JSON types come back as they were sent
    (1, r"<think>2 + 2 = 4</think> The answer is \boxed{4}.", "4"),
    ("b", r"\boxed{5}", "4"),
    (None, "no answer at all", "4"),
    ([1, "x"], r"so \boxed{\frac{1}{2}}", "0.5"),
    ({"run": "r1", "step": 3}, "She pays 3 * 411 = 1233.\n#### 1,233", "1233"),
    (2.5, r"<think>maybe \boxed{9}</think> \boxed{142}", 142.0),          # a number, as datasets have
    ("sets", r"\boxed{3, 5}", ["$3$", "$5$"]),                            # a list, as OlympiadBench has
    ("unicode", "r\u00e9sultat : \\boxed{\u03c0}", "\\pi"),
    ("empty gold", r"\boxed{1}", ""),                                      # graded wrong, as in rollouts
]


def _grade_stdin(monkeypatch, capsys, data: bytes) -> tuple[int, list[dict]]:
    from hbpo.cli import main

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    code = main(["grade"])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines()]


def test_grade_command_gives_the_rollouts_verdicts(monkeypatch, capsys):
    lines = [json.dumps({"id": i, "text": t, "ground_truth": g}) for i, t, g in GRADE_CASES]
    code, replies = _grade_stdin(monkeypatch, capsys, ("\n".join(lines) + "\n").encode())
    assert code == 0
    expected = [{"id": i, "answer": grade(t, g).extracted, "correct": grade(t, g).correct} for i, t, g in GRADE_CASES]
    assert replies == expected
    assert [r["correct"] for r in replies] == [True, False, False, True, True, True, True, True, False]
    assert [r["answer"] for r in replies][:3] == ["4", "5", None]


def test_grade_command_answers_bad_lines_and_goes_on(monkeypatch, capsys):
    good = json.dumps({"id": "ok", "text": r"\boxed{2}", "ground_truth": "2"}).encode()
    lines = [
        b"{not json",
        b"[1, 2]",
        b'{"text": "\\\\boxed{1}", "ground_truth": "1"}',
        b'{"id": 7, "ground_truth": "1"}',
        b'{"id": 8, "text": "\\\\boxed{1}"}',
        b'{"id": 9, "text": 5, "ground_truth": "5"}',
        b'{"id": 10, "text": "\\\\boxed{1}", "ground_truth": null}',
        b'{"id": 11, "text": "\\\\boxed{1}", "ground_truth": true}',
        b'{"id": NaN, "text": "\\\\boxed{1}", "ground_truth": "1"}',
        b'{"id": 12, "text": "\xff\xfe", "ground_truth": "1"}',  # not UTF-8
        b"   ",  # blank lines are skipped, not answered
        good,
    ]
    code, replies = _grade_stdin(monkeypatch, capsys, b"\n".join(lines) + b"\r\n")
    assert code == 0
    assert replies[-1] == {"id": "ok", "answer": "2", "correct": True}
    errors = replies[:-1]
    assert all(set(r) == {"id", "error"} for r in errors)
    assert [r["id"] for r in errors] == [None, None, None, 7, 8, 9, 10, 11, None, None]
    messages = [r["error"] for r in errors]
    expected = ["line 1: not JSON", "line 2: expected a JSON object, got list", 'line 3: missing field "id"',
                'line 4: missing field "text"', 'line 5: missing field "ground_truth"',
                'line 6: field "text" must be a string, got int', 'line 7: field "ground_truth": answer must be',
                'line 8: field "ground_truth": answer must be', "line 9: not JSON (NaN is not JSON)",
                "line 10: not UTF-8"]
    for message, start in zip(messages, expected):
        assert message.startswith(start), (message, start)


def test_grade_command_streams_one_flushed_line_per_item():
    """The way the comparison panel runs it: one process (no shell), an item written, its verdict read
    before the next item is written; exit 0 at the end of the input."""
    proc = subprocess.Popen(hbpo_cmd("grade"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        for n, (id_, text, truth) in enumerate(GRADE_CASES[:3] + [("bad", None, None)], 1):
            line = (json.dumps({"id": id_, "text": text, "ground_truth": truth}) if text is not None
                    else "not json")
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            assert ready, f"no reply to item {n} within 60 s: the reply was not flushed"
            reply = json.loads(proc.stdout.readline())
            if text is None:
                assert reply == {"id": None, "error": reply["error"]} and reply["error"].startswith(f"line {n}: ")
            else:
                verdict = grade(text, truth)
                assert reply == {"id": id_, "answer": verdict.extracted, "correct": verdict.correct}
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
        assert proc.stdout.read() == b""
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_problems_command_lists_what_training_reads(tmp_path):
    """`python -m hbpo problems` prints each problem with the ground truth the trainer derives."""
    data = tmp_path / "mini.jsonl"
    data.write_text(json.dumps({"question": "2+2?", "solution": "so\n#### 4"}) + "\n"
                    + json.dumps({"problem": "x?", "answer": 7, "difficulty": 3}) + "\n")
    out = subprocess.run(hbpo_cmd("problems", str(data)), capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["index"], r["problem"], r["answer"]) for r in rows] == [(0, "2+2?", "4"), (1, "x?", "7")]
    assert rows[1]["difficulty"] == "3"


def test_problems_command_names_the_bad_record(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"problem": "x"}]))
    r = subprocess.run(hbpo_cmd("problems", str(bad)), capture_output=True, text=True)
    assert r.returncode == 2
    assert "bad.json" in r.stderr and "answer" in r.stderr
    r = subprocess.run(hbpo_cmd("problems", str(tmp_path / "missing.json")), capture_output=True, text=True)
    assert r.returncode == 2 and "no such file" in r.stderr
