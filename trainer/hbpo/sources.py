"""Where problems come from: a data file, or a built-in testbed split (`testbed:train`)."""

from __future__ import annotations

from pathlib import Path

from .data import DataError, Problem, load_problems


def is_builtin(spec: str) -> bool:
    return spec.startswith("testbed:")


def load_source(spec: str, *, limit: int | None = None) -> list[Problem]:
    if is_builtin(spec):
        from .testbed.problems import SPLITS, generate_split

        split = spec.removeprefix("testbed:")
        if split not in SPLITS:
            raise DataError(f"{spec}: unknown testbed split '{split}' (known: {', '.join(SPLITS)})")
        problems = generate_split(split)
        return problems if limit is None else problems[:limit]
    if not Path(spec).is_file():
        raise FileNotFoundError(spec)
    return load_problems(spec, limit=limit)


def source_name(spec: str) -> str:
    return spec if is_builtin(spec) else Path(spec).stem


def validate_source(spec: str) -> int:
    """Number of problems, or DataError / FileNotFoundError naming what is wrong."""
    if is_builtin(spec):
        return len(load_source(spec))
    from .data import validate_problems

    if not Path(spec).is_file():
        raise FileNotFoundError(spec)
    return validate_problems(spec)
