"""One run across processes (torchrun, gloo on CPU): two ranks make the update one process makes of
the same global batch; rank 0 writes every rank's rollouts; a stop or a failing rank ends the run
cleanly; a resume at the same world size goes on exactly; a world size that cannot share the step
is refused before anything starts. Real processes, started as a user starts them."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from conftest import hbpo_cmd, tiny_config

TRAINER = Path(__file__).resolve().parents[1]
# 4 queries x 4 rollouts a step, 2 optimizer steps a step (mini-batches of 2 queries): a rank has 1
# query of each mini-batch (4 prompts: one generation batch, as one process batches them), in 2
# micro-batches (3 + 1 sequences).
SHAPE = dict(train__queries_per_step=4, generation__batch_size=4, ppo__mini_batch_queries=2,
             ppo__micro_batch_size=3, train__steps=3, train__checkpoint_every=1, train__keep_checkpoints=5)


def run(cmd: list[str], env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=TRAINER, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines() if line.strip()]


def weights(run_dir: Path, step: int) -> dict:
    return load_file(glob.glob(str(run_dir / "checkpoints" / f"step-{step:06d}" / "model" / "*.safetensors"))[0])


def rollouts(run_dir: Path) -> list[tuple]:
    return [(e["step"], e["query_index"], e["tier"], e["sample"], e["text"], e["reward"], e["advantage"])
            for e in events(run_dir) if e["type"] == "rollout"]


def left_behind(name: str) -> list[int]:
    """Processes still running this run (its name is on their command line)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"run.name={name}" in text and int(cmdline.parent.name) != os.getpid():
            pids.append(int(cmdline.parent.name))
    return pids


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same config trained by one process and by two ranks."""
    import yaml

    root = tmp_path_factory.mktemp("dist")
    cfg = tiny_config(**SHAPE)
    cfg["run"]["dir"] = str(root / "runs")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    one = run(hbpo_cmd("train", "--config", str(config), "--set", "run.name=one"))
    assert one.returncode == 0, one.stderr[-3000:]
    two = run(hbpo_cmd("train", "--config", str(config), "--set", "run.name=two", "--nproc", "2"))
    assert two.returncode == 0, two.stderr[-3000:]
    return root, config


def test_two_ranks_make_the_update_one_process_makes(reference):
    root, _ = reference
    one, two = root / "runs" / "one", root / "runs" / "two"
    a, b = weights(one, 3), weights(two, 3)
    assert a.keys() == b.keys()
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert diff <= 1e-5, f"weights differ by {diff} after 3 steps"
    assert float(max((a[k] - weights(one, 1)[k]).abs().max() for k in a)) > 1e-4, "training moved the weights"
    assert rollouts(one) == rollouts(two), "every rollout, its reward and its advantages are the same"
    assert len(rollouts(two)) == 3 * 4 * 4
    starts = [e for e in events(two) if e["type"] == "run_start"]
    assert starts[0]["world_size"] == 2 and starts[0]["devices"] == ["cpu", "cpu"]
    steps_one = [e["metrics"] for e in events(one) if e["type"] == "step"]
    steps_two = [e["metrics"] for e in events(two) if e["type"] == "step"]
    for m1, m2 in zip(steps_one, steps_two, strict=True):
        for key in ("loss", "entropy", "grad_norm", "clip_frac", "approx_kl", "optimizer_steps", "tokens/generated"):
            assert m1[key] == pytest.approx(m2[key], abs=1e-5), key
    assert steps_two[0]["optimizer_steps"] == 2.0


def test_a_world_size_that_cannot_share_the_step_is_refused_before_anything_starts(reference):
    root, config = reference
    for nproc, says in ((0, "must be >= 1"), (3, "cannot share train.queries_per_step = 4"),
                        (8, "every process needs at least one whole query")):
        r = run(hbpo_cmd("train", "--config", str(config), "--set", f"run.name=bad{nproc}", "--nproc", str(nproc)))
        assert r.returncode == 2, r.stderr[-2000:]
        assert "--nproc" in r.stderr and says in r.stderr, r.stderr[-2000:]
        assert not (root / "runs" / f"bad{nproc}").exists()


def test_a_resume_goes_on_exactly_and_only_at_the_same_world_size(reference):
    root, config = reference
    name = "killed"
    run_dir = root / "runs" / name
    proc = subprocess.Popen(hbpo_cmd("train", "--config", str(config), "--set", f"run.name={name}", "--nproc", "2"),
                            cwd=TRAINER, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not (run_dir / "checkpoints" / "step-000001").is_dir():
            time.sleep(0.2)
        ranks = [p for p in left_behind(name) if p != proc.pid and "hbpo" in Path(f"/proc/{p}/cmdline").read_text()]
        victim = max(ranks)  # a rank (the launcher's children start after it)
        os.kill(victim, signal.SIGKILL)
        proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    assert not left_behind(name), "no rank is left running"
    ends = [e for e in events(run_dir) if e["type"] == "run_end"]
    assert ends[-1]["status"] == "failed" and "rank" in ends[-1]["reason"], ends[-1]

    wrong = run(hbpo_cmd("resume", str(run_dir)))
    assert wrong.returncode != 0 and "--nproc 2" in (wrong.stderr + json.dumps(events(run_dir)[-1])), wrong.stderr[-2000:]
    again = run(hbpo_cmd("resume", str(run_dir), "--nproc", "2"))
    assert again.returncode == 0, again.stderr[-3000:]
    a, b = weights(root / "runs" / "two", 3), weights(run_dir, 3)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-5, "the resumed run ends where the uninterrupted one does"


def test_sigterm_to_the_launcher_stops_every_rank_with_a_checkpoint(reference):
    root, config = reference
    name = "stopped"
    run_dir = root / "runs" / name
    proc = subprocess.Popen(hbpo_cmd("train", "--config", str(config), "--set", f"run.name={name}", "--set",
                                     "train.steps=200", "--set", "train.checkpoint_every=100", "--nproc", "2"),
                            cwd=TRAINER, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not any(e["type"] == "step" for e in _events_or_none(run_dir)):
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, proc.stderr.read()[-3000:]
    ends = [e for e in events(run_dir) if e["type"] == "run_end"]
    assert ends[-1]["status"] == "stopped", ends[-1]
    assert ends[-1]["checkpoint"] and (run_dir / ends[-1]["checkpoint"]).is_dir()
    assert not left_behind(name)


def test_a_rank_that_raises_ends_the_run_failed_naming_it(reference):
    root, config = reference
    name = "broken"
    started = time.time()
    r = run(hbpo_cmd("train", "--config", str(config), "--set", f"run.name={name}", "--nproc", "2"),
            env={"HBPO_TEST_FAIL": "1:2"}, timeout=300)
    assert r.returncode == 1, r.stderr[-3000:]
    end = [e for e in events(root / "runs" / name) if e["type"] == "run_end"][-1]
    assert end["status"] == "failed"
    assert "rank 1" in end["reason"] and "injected failure" in end["reason"], end["reason"]
    assert not left_behind(name)
    assert time.time() - started < 240


def _events_or_none(run_dir: Path) -> list[dict]:
    try:
        return events(run_dir)
    except (OSError, ValueError):
        return []
