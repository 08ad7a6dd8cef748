"""Answer extraction and checking for math rollouts.

A rollout's final answer is the content of its last ``\\boxed{...}`` (or ``\\fbox{...}``,
or ``\\boxed x``), else the text after its last GSM8K-style ``#### `` marker. When the
response closes its reasoning with ``</think>``, the text after the last ``</think>`` is
searched first and the whole response only if that part holds no answer.

Equivalence is decided by math-verify (``math_verify.parse`` + ``math_verify.verify``),
never by hand-written rules here. Both sides are parsed from ``\\boxed{...}`` so that bare
LaTeX (``\\frac{1}{2}``, ``\\left( 3, \\frac{\\pi}{2} \\right)``, ``\\$18.90``) parses.
What math-verify accepts as equal, as exercised by ``tests/test_grading.py``:
``\\frac{1}{2}`` = ``0.5``; ``\\left( 3, \\frac{\\pi}{2} \\right)`` = ``(3,\\pi/2)``;
``90^\\circ`` = ``90``; ``\\$18`` = ``18``; ``025`` = ``25``; ``142`` = ``142.0``;
``2,125`` = ``2125``; ``1,-2`` = ``-2,1`` (sets); ``x=5`` = ``5``; ``10\\%`` = ``10``.
It rejects ``\\frac{14}{3}`` vs ``4.67`` (rounding is to 6 places) and ``4.2`` vs ``4.2\\%``.

Grading never raises on untrusted text: any math-verify error or timeout counts as
incorrect, and answers longer than ``MAX_ANSWER_CHARS`` are refused unparsed.

Threads: math-verify enforces its timeouts with ``signal.alarm``, which only works in the
main thread. Off the main thread grading still gives right verdicts but runs WITHOUT
timeouts, and a short hostile answer such as ``10^{10^{10^{10}}}`` then hangs the process
(sympy evaluates it while holding the GIL). Grade in the main thread, or in worker
processes (a ``ProcessPoolExecutor`` worker runs tasks in its own main thread).
"""

from __future__ import annotations

import functools
import logging
import math
import re
import threading
from dataclasses import dataclass
from typing import Any

from math_verify import parse, verify
from math_verify.errors import TimeoutException

__all__ = [
    "Grade",
    "extract_answer",
    "grade",
    "normalize_ground_truth",
    "MAX_ANSWER_CHARS",
    "TIMEOUT_S",
]

logger = logging.getLogger(__name__)

#: An extracted answer longer than this is graded incorrect without being parsed (the longest
#: gold answer in the five shipped benchmarks is 204 characters).
MAX_ANSWER_CHARS = 1000
#: math-verify's per-parse and per-comparison timeout, in seconds (main thread only).
TIMEOUT_S = 5

_THINK_CLOSE = "</think>"
_BOX_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOX_SPACE = re.compile(r"\\boxed +([^\s${][^\s$]*)")
_HASHES = "####"


@dataclass(frozen=True)
class Grade:
    """The verdict on one response: ``correct`` and the answer text that was judged."""

    correct: bool
    extracted: str | None


# ----------------------------------------------------------------------------- extraction


def _brace_matches(text: str) -> dict[int, int]:
    """Map the index of every unescaped ``{`` to its matching ``}`` (one linear pass).

    Escaped braces (``\\{``, ``\\}``) are literal set braces in LaTeX and do not count.
    Unclosed ``{`` are absent from the result.
    """
    matches: dict[int, int] = {}
    stack: list[int] = []
    backslashes = 0
    for i, ch in enumerate(text):
        if ch == "\\":
            backslashes += 1
            continue
        escaped = backslashes % 2 == 1
        backslashes = 0
        if escaped:
            continue
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            matches[stack.pop()] = i
    return matches


def _last_boxed(text: str) -> str | None:
    """Content of the last complete, non-empty ``\\boxed{}``/``\\fbox{}``/``\\boxed x``."""
    candidates: list[tuple[int, str]] = []
    opens = list(_BOX_OPEN.finditer(text))
    if opens:
        matches = _brace_matches(text)
        for m in reversed(opens):
            brace = m.end() - 1
            close = matches.get(brace)
            if close is None:
                continue  # truncated: look at an earlier one
            content = text[brace + 1 : close].strip()
            if content:
                candidates.append((m.start(), content))
                break
    last_space = None
    for last_space in _BOX_SPACE.finditer(text):
        pass
    if last_space is not None:
        candidates.append((last_space.start(), last_space.group(1)))
    if not candidates:
        return None
    return max(candidates)[1]


def _last_hashes(text: str) -> str | None:
    """Text after the last ``####`` marker, to the end of its line."""
    end = len(text)
    while (pos := text.rfind(_HASHES, 0, end)) != -1:
        start = pos + len(_HASHES)
        newline = text.find("\n", start, end)
        answer = text[start : end if newline == -1 else newline].strip().rstrip(".").strip()
        if answer:
            return answer
        end = pos
    return None


def _extract_from(text: str) -> str | None:
    boxed = _last_boxed(text)
    if boxed is not None:
        return boxed
    return _last_hashes(text)


def extract_answer(text: str) -> str | None:
    """The final answer of a response, or ``None`` when it states none.

    The content of the last complete ``\\boxed{...}`` (nested braces balanced; also
    ``\\fbox{...}`` and the ``\\boxed 5`` space form), else what follows the last ``####``
    on its line. Text after the last ``</think>`` is searched first; the whole response is
    searched only when that part has no answer. Empty boxes count as no answer.
    """
    if not isinstance(text, str) or not text:
        return None
    cut = text.rfind(_THINK_CLOSE)
    if cut != -1:
        found = _extract_from(text[cut + len(_THINK_CLOSE) :])
        if found is not None:
            return found
    return _extract_from(text)


# ----------------------------------------------------------------------------- grading


def _timeout() -> int | None:
    # signal.alarm (math-verify's timeout) raises ValueError off the main thread.
    return TIMEOUT_S if threading.current_thread() is threading.main_thread() else None


def _as_boxed(answer: str) -> str:
    return answer if "\\boxed" in answer else "\\boxed{" + answer + "}"


def _safe_parse(latex: str) -> list[Any]:
    try:
        return list(parse(latex, parsing_timeout=_timeout()))
    except (Exception, TimeoutException):
        logger.debug("math-verify could not parse %.200r", latex, exc_info=True)
        return []


class _GoldUnparsed(Exception):
    """Raised inside the cache so that a failed gold parse (maybe a timeout) is not cached."""


@functools.lru_cache(maxsize=8192)
def _parse_gold_cached(ground_truth: str) -> tuple[Any, ...]:
    parsed = tuple(_safe_parse(_as_boxed(ground_truth)))
    if not parsed:
        raise _GoldUnparsed(ground_truth)
    return parsed


_warned_golds: set[str] = set()


def _parse_gold(ground_truth: str) -> tuple[Any, ...]:
    """Parsed gold answer, cached per string because every query is graded once per rollout;
    empty when math-verify cannot parse it (not cached: the next rollout tries again)."""
    try:
        return _parse_gold_cached(ground_truth)
    except _GoldUnparsed:
        if ground_truth not in _warned_golds and len(_warned_golds) < 1000:
            _warned_golds.add(ground_truth)
            logger.warning("ground truth %.200r does not parse; answers to it grade wrong",
                           ground_truth)
        return ()


def grade(response: str, ground_truth: str) -> Grade:
    """Grade one response against its ground truth (a LaTeX or plain answer string).

    Never raises: no answer, an unparsable answer, an answer longer than
    ``MAX_ANSWER_CHARS``, or a math-verify error/timeout all grade incorrect.
    """
    try:
        extracted = extract_answer(response)
    except Exception:  # pragma: no cover - extraction is plain string work
        logger.debug("answer extraction failed", exc_info=True)
        return Grade(False, None)
    if extracted is None:
        return Grade(False, None)
    if not isinstance(ground_truth, str):
        try:
            ground_truth = normalize_ground_truth(ground_truth)
        except ValueError:
            return Grade(False, extracted)
    if not ground_truth.strip():
        return Grade(False, extracted)
    if len(extracted) > MAX_ANSWER_CHARS:
        return Grade(False, extracted)
    gold = _parse_gold(ground_truth.strip())
    if not gold:
        return Grade(False, extracted)
    pred = _safe_parse("\\boxed{" + extracted + "}")
    if not pred:
        return Grade(False, extracted)
    try:
        ok = bool(verify(list(gold), pred, timeout_seconds=_timeout()))
    except (Exception, TimeoutException):
        logger.debug("math-verify failed on %.200r", extracted, exc_info=True)
        ok = False
    return Grade(ok, extracted)


# ----------------------------------------------------------------------------- ground truth


def normalize_ground_truth(value: Any) -> str:
    """A dataset's answer field as the string the grader compares against.

    ``142.0`` -> ``"142"``, ``2.5`` -> ``"2.5"``, ``7`` -> ``"7"``, ``" 9 "`` -> ``"9"``,
    ``["$2$"]`` -> ``"$2$"``, ``["$3$", "$5$"]`` -> ``"$3$, $5$"`` (OlympiadBench's
    multi-answer lists). Raises ``ValueError`` for ``None``, booleans, non-finite numbers,
    empty strings or lists, and other types.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"answer must be a string, number or list of strings, got {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"answer is not a finite number: {value!r}")
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("answer is an empty string")
        return text
    if isinstance(value, (list, tuple)):
        parts = [normalize_ground_truth(v) for v in value]
        if not parts:
            raise ValueError("answer is an empty list")
        return ", ".join(parts)
    raise ValueError(f"answer must be a string, number or list of strings, got {type(value).__name__}")
