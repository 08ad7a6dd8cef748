"""Loading problems: the five real benchmark formats, JSONL, and errors that say where and what."""

from __future__ import annotations

import collections
import dataclasses
import json
from pathlib import Path

import pytest

from conftest import benchmark
from hbpo.data import DataError, Problem, load_problems, validate_problems




# ----------------------------------------------------------------------------- real benchmarks

EXPECTED = {
    # name: (count, first problem's (id, answer, difficulty), difficulty label counts)
    "gsm8k": (1319, ("gsm8k-0", "18", None), {None: 1319}),
    "math": (500, ("test/precalculus/807.json", r"\left( 3, \frac{\pi}{2} \right)", "2"),
             {"1": 43, "2": 90, "3": 105, "4": 128, "5": 134}),
    "aime": (30, ("aime-0", "204", "2"), None),
    "amc": (83, ("amc-0", "142", "2"), None),
    "olympiad_bench": (675, ("1606", "2", None), {None: 675}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_benchmark_file_loads(name):
    path = benchmark(name)
    count, (first_id, first_answer, first_difficulty), labels = EXPECTED[name]
    problems = load_problems(path)
    assert len(problems) == count
    assert validate_problems(path) == count
    assert all(isinstance(p, Problem) for p in problems)
    assert {p.source for p in problems} == {name}
    assert all(p.problem.strip() and p.answer.strip() for p in problems)
    assert all(p.answer == p.answer.strip() for p in problems)
    assert len({p.id for p in problems}) == count
    first = problems[0]
    assert (first.id, first.answer, first.difficulty) == (first_id, first_answer, first_difficulty)
    if labels is not None:
        assert dict(collections.Counter(p.difficulty for p in problems)) == labels


def test_benchmark_specifics():
    gsm8k = load_problems(benchmark("gsm8k"))
    assert [p.id for p in gsm8k[:3]] == ["gsm8k-0", "gsm8k-1", "gsm8k-2"]
    # answers come from the line after "####", kept as written (thousands separators included)
    assert sum("," in p.answer for p in gsm8k) == 14
    assert all("####" not in p.answer and "\n" not in p.answer for p in gsm8k)

    aime = load_problems(benchmark("aime"))
    assert aime[1].answer == "025"  # zero-padded string answers are kept as strings
    labels = {p.difficulty for p in aime}
    assert {"2", "4", "6", "4.75", "2.375"} <= labels
    assert not any(label.endswith(".0") for label in labels)

    amc = load_problems(benchmark("amc"))
    assert [p.answer for p in amc[:3]] == ["142", "144", "81"]  # floats 142.0 -> "142"
    assert amc[8].answer == "-4"
    assert all("." not in p.answer for p in amc)

    olympiad = load_problems(benchmark("olympiad_bench"))
    by_id = {p.id: p for p in olympiad}
    assert by_id["1606"].answer == "2"
    assert by_id["2212"].answer == "$N=n$"  # one-element lists unwrap
    assert sum(p.answer.startswith("$") for p in olympiad) > 100


def test_limit_keeps_the_first_records():
    path = benchmark("math")
    full = load_problems(path)
    assert load_problems(path, limit=7) == full[:7]
    assert load_problems(path, limit=0) == []
    assert load_problems(path, limit=10_000) == full
    with pytest.raises(ValueError):
        load_problems(path, limit=-1)


# ----------------------------------------------------------------------------- JSONL and friends


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _jsonl(*records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_jsonl_fields_ids_and_difficulty(tmp_path):
    path = _write(tmp_path, "mine.jsonl", _jsonl(
        {"question": "1+1?", "answer": "2"},
        {"problem": "Half of one?", "answer": r"\frac{1}{2}", "id": "h1", "difficulty": "Level 3"},
        {"problem": "3*3?", "answer": 9, "id": 17, "difficulty": 2.0},
        {"problem": "Big?", "answer": 1e3, "difficulty": -1},
        {"problem": "Float?", "answer": 2.5, "difficulty": 4.75, "unique_id": "u/5"},
        {"problem": "Level?", "answer": "x", "level": "Level 5"},
        {"problem": "GSM", "answer": None, "solution": "so 3+4=7\n#### 7"},
        {"problem": "MATH", "solution": r"Thus the answer is $\boxed{\frac{3}{4}}$."},
        {"problem": "Multi", "answer": ["$1$", "$2$"], "difficulty": "3.0"},
        {"problem": "Both", "solution": "Half is \\boxed{3}.\n#### 6"},  # #### is the final one
    ) + "\n")  # a blank trailing line is fine
    problems = load_problems(path)
    assert problems == [
        Problem("mine-0", "1+1?", "2", None, "mine"),
        Problem("h1", "Half of one?", r"\frac{1}{2}", "Level 3", "mine"),
        Problem("17", "3*3?", "9", "2", "mine"),
        Problem("mine-3", "Big?", "1000", None, "mine"),
        Problem("u/5", "Float?", "2.5", "4.75", "mine"),
        Problem("mine-5", "Level?", "x", "Level 5", "mine"),
        Problem("mine-6", "GSM", "7", None, "mine"),
        Problem("mine-7", "MATH", r"\frac{3}{4}", None, "mine"),
        Problem("mine-8", "Multi", "$1$, $2$", "3", "mine"),
        Problem("mine-9", "Both", "6", None, "mine"),
    ]
    assert validate_problems(path) == 10
    assert load_problems(path, limit=2) == problems[:2]


def test_jsonl_skips_blank_lines_and_numbers_errors_by_file_line(tmp_path):
    text = "\n" + _jsonl({"problem": "a", "answer": "1"}) + "   \n\n" + _jsonl(
        {"problem": "b", "answer": "2"})
    problems = load_problems(_write(tmp_path, "gaps.jsonl", text))
    assert [p.id for p in problems] == ["gaps-0", "gaps-1"]
    bad = text + "\n" + _jsonl({"problem": "c"})
    with pytest.raises(DataError, match=r"gaps\.jsonl: line 7: field 'answer' is missing"):
        load_problems(_write(tmp_path, "gaps.jsonl", bad))


def test_json_array_with_bom_and_crlf(tmp_path):
    path = tmp_path / "win.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"problem": "p", "answer": "1"}], indent=1)
                     .replace("\n", "\r\n").encode())
    assert load_problems(path) == [Problem("win-0", "p", "1", None, "win")]


def test_problem_is_frozen():
    p = Problem("a", "b", "c", None, "d")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.answer = "x"  # type: ignore[misc]


# ----------------------------------------------------------------------------- bad files


def _good(i: int) -> dict:
    return {"problem": f"What is {i}+1?", "answer": str(i + 1)}


def _array_with(record, at: int = 17) -> str:
    records = [_good(i) for i in range(20)]
    records[at] = record
    return json.dumps(records, indent=2)


def _jsonl_with(line: str, at: int = 17) -> str:
    lines = [json.dumps(_good(i)) for i in range(20)]
    lines[at] = line
    return "\n".join(lines) + "\n"


BAD_RECORDS = [
    # (record, words the message must contain, besides file and record/line)
    ({"answer": "3"}, ["missing problem text", "'problem'"]),
    ({"problem": None, "answer": "3"}, ["missing problem text", "'problem'"]),
    ({"problem": "   ", "answer": "3"}, ["field 'problem'", "empty"]),
    ({"question": 12, "answer": "3"}, ["field 'question'", "must be a string"]),
    ({"problem": "p"}, ["field 'answer' is missing"]),
    ({"problem": "p", "answer": None}, ["field 'answer' is missing"]),
    ({"problem": "p", "answer": ""}, ["field 'answer' is empty"]),
    ({"problem": "p", "answer": []}, ["field 'answer' is empty"]),
    ({"problem": "p", "answer": "  "}, ["field 'answer'", "empty"]),
    ({"problem": "p", "answer": True}, ["field 'answer'"]),
    ({"problem": "p", "answer": {"v": 1}}, ["field 'answer'"]),
    ({"problem": "p", "answer": float("nan")}, ["field 'answer'", "finite"]),
    ({"problem": "p", "answer": None, "solution": "She has 5 apples."},
     ["field 'answer' is missing", "'solution'", "####"]),
    ({"problem": "p", "answer": "1", "id": ""}, ["field 'id'"]),
    ({"problem": "p", "answer": "1", "unique_id": ["x"]}, ["field 'unique_id'"]),
    ({"problem": "p", "answer": "1", "id": "dup"}, ["field 'id'", "duplicate id 'dup'"]),
    (["problem", "answer"], ["expected a JSON object", "list"]),
    (5, ["expected a JSON object", "int"]),
    (None, ["expected a JSON object", "NoneType"]),
]


def _dup_first(records: list[dict], record) -> None:
    """For the duplicate-id case, give record 3 the same id as the bad record 17."""
    if isinstance(record, dict) and record.get("id") == "dup":
        records[3] = {**records[3], "id": "dup"}


@pytest.mark.parametrize("record, words", BAD_RECORDS, ids=lambda v: repr(v)[:40])
def test_bad_record_in_json_array(tmp_path, record, words):
    records = [_good(i) for i in range(20)]
    records[17] = record
    _dup_first(records, record)
    path = _write(tmp_path, "bad.json", json.dumps(records, indent=2, allow_nan=True))
    with pytest.raises(DataError) as info:
        load_problems(path)
    message = str(info.value)
    assert message.startswith(f"{path}: record 17: ")
    for word in words:
        assert word in message
    if record == {"problem": "p", "answer": "1", "id": "dup"}:
        assert "first at record 3" in message
    with pytest.raises(DataError):
        validate_problems(path)
    assert len(load_problems(path, limit=17)) == 17  # only loaded records are checked


@pytest.mark.parametrize("record, words", BAD_RECORDS, ids=lambda v: repr(v)[:40])
def test_bad_record_in_jsonl(tmp_path, record, words):
    records = [_good(i) for i in range(20)]
    _dup_first(records, record)
    lines = [json.dumps(r, allow_nan=True) for r in records]
    lines[17] = json.dumps(record, allow_nan=True)
    path = _write(tmp_path, "bad.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        load_problems(path)
    message = str(info.value)
    assert message.startswith(f"{path}: line 18: ")
    for word in words:
        assert word in message
    if record == {"problem": "p", "answer": "1", "id": "dup"}:
        assert "first at line 4" in message


def test_invalid_json_line_names_its_line(tmp_path):
    path = _write(tmp_path, "broken.jsonl", _jsonl_with('{"problem": "p", "answer": '))
    with pytest.raises(DataError, match=r"broken\.jsonl: line 18: invalid JSON"):
        load_problems(path)
    with pytest.raises(DataError, match=r"line 18: invalid JSON"):
        validate_problems(path)


def test_invalid_json_array_names_its_line(tmp_path):
    text = _array_with(_good(17)).replace('"answer": "18"', '"answer": 18,,')
    path = _write(tmp_path, "broken.json", text)
    expected_line = text[: text.index(",,")].count("\n") + 1
    with pytest.raises(DataError, match=rf"broken\.json: line {expected_line} column \d+: "
                                        "invalid JSON"):
        load_problems(path)


def test_truncated_json_array(tmp_path):
    path = _write(tmp_path, "cut.json", _array_with(_good(17))[:-40])
    with pytest.raises(DataError, match=r"cut\.json: line \d+ column \d+: invalid JSON"):
        load_problems(path)


def test_single_json_object_file_is_explained(tmp_path):
    path = _write(tmp_path, "obj.json", json.dumps({"data": [_good(0)]}, indent=2))
    with pytest.raises(DataError, match=r"obj\.json: line 1: invalid JSON.*one JSON dict.*array"):
        load_problems(path)


@pytest.mark.parametrize("text", ["", "\n\n", "   \n", "[]", "[\n]\n"])
def test_empty_file(tmp_path, text):
    path = _write(tmp_path, "empty.jsonl" if not text.startswith("[") else "empty.json", text)
    with pytest.raises(DataError, match=rf"{path.name}: empty file"):
        load_problems(path)
    with pytest.raises(DataError, match="empty file"):
        validate_problems(path)


def test_missing_file_directory_and_binary(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(DataError, match=r"nope\.jsonl: file not found"):
        load_problems(missing)
    with pytest.raises(DataError, match="file not found"):
        validate_problems(missing)
    with pytest.raises(DataError, match="is a directory"):
        load_problems(tmp_path)
    binary = tmp_path / "model.jsonl"
    binary.write_bytes(b"GGUF\xff\xfe\x00\x01")
    with pytest.raises(DataError, match=r"model\.jsonl: not UTF-8"):
        load_problems(binary)


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)
