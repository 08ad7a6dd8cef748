"""The one vocabulary of prompt modes, imported by the config checks, prompts, evaluation and metrics."""

from __future__ import annotations

import re

# The one vocabulary of modes (the extension's twin: common/mode.ts). A mode is a budget in tokens,
# "natural" or "efficiency"; a rollout's tier is a budget or None (natural). Three spellings, each
# made by one function: the value (`Mode`), its key `tier:512` | `natural` | `efficiency` (eval
# events, configs, the command line: `mode_key` / `parse_mode`) and its label in metric names and
# logs, `512` | `natural` (`mode_label`).
Mode = int | str


def parse_mode(text: str) -> Mode:
    """`natural`, `efficiency` or `tier:<budget>`, canonical spelling only (`tier:512`, not `tier:0512`)."""
    if text in ("natural", "efficiency"):
        return text
    m = re.fullmatch(r"tier:([1-9][0-9]{0,8})", text)
    if not m:
        near = re.fullmatch(r"\s*tier\s*:\s*0*([1-9][0-9]{0,8})\s*", text, re.I)
        hint = f"; write 'tier:{int(near.group(1))}'" if near else ""
        raise ValueError(f"mode: expected natural, efficiency or tier:<budget>, got {text[:40]!r}{hint}")
    return int(m.group(1))


def mode_key(mode: Mode | None) -> str:
    """The key of a mode: `tier:512`, `natural`, `efficiency` (None: natural)."""
    return "natural" if mode is None else mode if isinstance(mode, str) else f"tier:{mode}"


def mode_label(mode: Mode | None) -> str:
    """A mode in metric names and logs: `512`, `natural`, `efficiency`."""
    return "natural" if mode is None else str(mode)
