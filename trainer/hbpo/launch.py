"""`python -m hbpo train|resume --nproc N`: the same command under torchrun, N processes on this node.

torchrun (torch.distributed.run) starts the ranks, forwards SIGINT/SIGTERM to them (each stops at
a step boundary with one checkpoint; torchrun kills a rank still running 30 s later) and, when a
rank fails, stops the others. It cannot write the run's last event when rank 0 was the one that
died, or was killed: this launcher does, after torchrun returns, when the run's events do not end
with a run_end of this attempt (`failed`, naming the rank and its error, or `stopped`).
Several nodes: run torchrun yourself on each (README, "Many GPUs").
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from .config import Config, ConfigError


def check_world(cfg: Config, nproc: int) -> None:
    """Refuse a world size that cannot share each step's queries whole and evenly, naming the field."""
    q = cfg.train.queries_per_step
    if nproc < 1:
        raise ConfigError([f"--nproc: must be >= 1 (got {nproc})"])
    if nproc > q:
        raise ConfigError([f"--nproc: {nproc} processes for train.queries_per_step = {q} queries: "
                           f"every process needs at least one whole query a step"])
    if q % nproc:
        raise ConfigError([f"--nproc: {nproc} processes cannot share train.queries_per_step = {q} queries "
                           f"evenly (a query's rollouts stay on one process)"])
    mbq = cfg.ppo.mini_batch_queries
    if mbq and mbq % nproc:
        raise ConfigError([f"--nproc: {nproc} processes cannot share ppo.mini_batch_queries = {mbq} evenly"])


def launch(nproc: int, argv: list[str], run_dir: Path) -> int:
    """Run `python -m hbpo <argv>` as `nproc` ranks under torchrun; 0 when the run finished or stopped."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    args = get_args_parser().parse_args(["--standalone", "--nproc-per-node", str(nproc), "-m", "hbpo", *argv])
    attempt = _events_size(run_dir)
    try:
        run(args)
        return 0 if _last_status(run_dir, attempt) in ("finished", "stopped", None) else 1
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        message = failure.message  # the rank's exception, from the error file its `record` wrote
        if isinstance(message, dict):
            message = message.get("message", json.dumps(message))
        reason = f"rank {rank} failed (exit code {failure.exitcode}): {_last_line(message)}"
        print(f"hbpo: {reason}", file=sys.stderr)
        _end(run_dir, attempt, "failed", reason)
        return 1
    except Exception as exc:  # noqa: BLE001 - torchrun's SignalException: the ranks were stopped
        name = signal.Signals(exc.sigval).name if hasattr(exc, "sigval") else type(exc).__name__
        _end(run_dir, attempt, "stopped" if hasattr(exc, "sigval") else "failed", f"received {name}")
        return 0 if hasattr(exc, "sigval") else 1


def _events_size(run_dir: Path) -> int:
    try:
        return (run_dir / "events.jsonl").stat().st_size
    except OSError:
        return 0


def _last_status(run_dir: Path, since: int) -> str | None:
    """The status of the last run_end written after byte `since` of events.jsonl, if any."""
    from .events import read_events

    path = run_dir / "events.jsonl"
    if _events_size(run_dir) <= since:
        return None
    events, _ = read_events(path)
    ends = [e for e in events if e.get("type") == "run_end"]
    last = events[-1] if events else None
    return ends[-1]["status"] if ends and last is ends[-1] else None


def _end(run_dir: Path, since: int, status: str, reason: str) -> None:
    """Write the attempt's run_end: a failure always (rank 0's own, if it wrote one, is often only
    the consequence: a collective whose peer died), a stop unless rank 0 ended the attempt."""
    if not (run_dir / "events.jsonl").exists() or (status != "failed" and _last_status(run_dir, since) is not None):
        return
    from .events import EventLog, read_events

    events, _ = read_events(run_dir / "events.jsonl")
    step = max((e.get("step", 0) for e in events), default=0)
    checkpoint = next((e["path"] for e in reversed(events) if e.get("type") == "checkpoint"), None)
    log = EventLog(run_dir / "events.jsonl", reserve=0)
    try:
        log.finish("run_end", step, status=status, reason=reason, checkpoint=checkpoint)
    finally:
        log.close()


def _last_line(message: str) -> str:
    lines = [line for line in message.strip().splitlines() if line.strip()]
    return lines[-1] if lines else message

