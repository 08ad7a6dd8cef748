"""Loading math problems from JSON-array and JSON Lines files.

One loader reads the five shipped benchmark formats (``../shared/data/benchmarks``) and
user JSONL, detecting fields per record:

- problem text: ``problem``, else ``question`` (a non-empty string);
- answer: ``answer`` (string, number, or OlympiadBench's list of strings, see
  ``grading.normalize_ground_truth``); when it is null or absent, the text after the last
  ``####`` in ``solution`` (GSM8K), else the last ``\\boxed{}`` in ``solution`` (MATH);
- id: ``unique_id``, else ``id``, else ``<file stem>-<index>`` (index from 0); ids must be
  unique within a file;
- difficulty: ``difficulty`` or ``level`` as a label: numbers as text without a trailing
  ``.0`` (``2.0`` -> ``"2"``, ``4.75`` -> ``"4.75"``), strings such as ``"Level 3"`` kept;
  negative numbers (GSM8K's ``-1.0``), null and empty become ``None``.

A file whose first non-blank character is ``[`` is a JSON array; anything else is JSON
Lines (blank lines are skipped). Every problem raises ``DataError`` naming the file, the
record (``record 17``, counted from 0, for arrays; ``line 18``, counted from 1, for JSONL)
and the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .grading import extract_answer, normalize_ground_truth

__all__ = ["DataError", "Problem", "load_problems", "validate_problems"]


class DataError(ValueError):
    """A problem file that cannot be used; the message names file, record and field."""


@dataclass(frozen=True)
class Problem:
    id: str
    problem: str
    answer: str
    difficulty: str | None
    source: str


def _difficulty_label(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            return text  # "Level 3", "hard", ...
        return _difficulty_label(number)
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            return None
        if float(value).is_integer():
            return str(int(value))
        return repr(float(value))
    return None


def _answer_from_solution(solution: Any) -> str | None:
    if isinstance(solution, list):
        solution = "\n".join(s for s in solution if isinstance(s, str))
    if not isinstance(solution, str):
        return None
    if "####" in solution:
        tail = solution.rsplit("####", 1)[1].strip().split("\n", 1)[0].strip()
        if tail:
            return tail
    return extract_answer(solution)


def _problem_from_record(
    record: Any, *, where: str, index: int, stem: str
) -> Problem:
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")

    field = "problem" if record.get("problem") is not None or "question" not in record else "question"
    text = record.get(field)
    if text is None:
        raise DataError(f"{where}: missing problem text (field 'problem' or 'question')")
    if not isinstance(text, str):
        raise DataError(f"{where}: field '{field}' must be a string, got {type(text).__name__}")
    if not text.strip():
        raise DataError(f"{where}: field '{field}' (problem text) is empty")

    raw_answer = record.get("answer")
    if raw_answer is None or (isinstance(raw_answer, (str, list)) and not raw_answer):
        derived = _answer_from_solution(record.get("solution"))
        if derived is None:
            state = "missing" if raw_answer is None else "empty"
            raise DataError(
                f"{where}: field 'answer' is {state} and no answer can be derived from "
                f"'solution' (no '####' line or \\boxed{{}})"
            )
        answer = derived
    else:
        try:
            answer = normalize_ground_truth(raw_answer)
        except ValueError as exc:
            raise DataError(f"{where}: field 'answer': {exc}") from None

    raw_id = record.get("unique_id", record.get("id"))
    if raw_id is None:
        pid = f"{stem}-{index}"
    elif isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) and str(raw_id).strip():
        pid = str(raw_id).strip()
    else:
        key = "unique_id" if "unique_id" in record else "id"
        raise DataError(f"{where}: field '{key}' must be a non-empty string or integer, "
                        f"got {raw_id!r}")

    difficulty = record.get("difficulty", record.get("level"))
    return Problem(
        id=pid,
        problem=text,
        answer=answer,
        difficulty=_difficulty_label(difficulty),
        source=stem,
    )


def _records(path: Path, text: str, limit: int | None) -> Iterator[tuple[str, Any]]:
    """Yield ``(label, record)`` pairs; ``label`` (``record 3``, ``line 4``) names the record."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}: line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}"
            ) from None
        if not isinstance(data, list):  # pragma: no cover - "[" always parses to a list
            raise DataError(f"{path}: expected a JSON array of problem objects")
        for i, record in enumerate(data):
            if limit is not None and i >= limit:
                return
            yield f"record {i}", record
        return

    count = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if limit is not None and count >= limit:
            return
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            hint = ""
            if count == 0:
                try:
                    whole = json.loads(text)
                except json.JSONDecodeError:
                    pass
                else:
                    hint = (f" (the file is one JSON {type(whole).__name__}; expected a JSON "
                            "array of problems or one problem object per line)")
            raise DataError(f"{path}: line {lineno}: invalid JSON: {exc.msg}{hint}") from None
        count += 1
        yield f"line {lineno}", record


def load_problems(path: str | Path, *, limit: int | None = None) -> list[Problem]:
    """Read problems from a JSON array or JSON Lines file (see the module docstring).

    ``limit`` keeps the first ``limit`` records (and checks only those). Raises
    ``DataError`` for a missing, unreadable, empty or malformed file.
    """
    path = Path(path)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a non-negative integer or None, got {limit!r}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a .json or .jsonl file") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not text.strip():
        raise DataError(f"{path}: empty file, expected problems")

    stem = path.stem
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for label, record in _records(path, text, limit):
        where = f"{path}: {label}"
        problem = _problem_from_record(record, where=where, index=len(problems), stem=stem)
        if problem.id in seen:
            key = "unique_id" if isinstance(record, dict) and "unique_id" in record else "id"
            raise DataError(f"{where}: field '{key}': duplicate id {problem.id!r} "
                            f"(first at {seen[problem.id]})")
        seen[problem.id] = label
        problems.append(problem)
    if not problems and limit != 0:
        raise DataError(f"{path}: empty file, expected problems (no records)")
    return problems


def validate_problems(path: str | Path) -> int:
    """Number of problems in ``path``; raises ``DataError`` exactly as ``load_problems``."""
    return len(load_problems(path))
