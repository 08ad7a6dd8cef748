"""FSDP2 (`train.parallel: fsdp`) across processes (torchrun, gloo on CPU): two ranks that each hold
half of the weights and optimizer state make the update one process makes of the same global batch
(and evaluate as it does, rank 0 alone); a run killed mid-way resumes from its sharded checkpoint to
the weights of the uninterrupted run, only with its world size and strategy; evaluation and GGUF
export read an fsdp checkpoint (its model/ is its shards' weights, whole) as they read one process's;
a full disk during a sharded save ends the run cleanly; a bad train.parallel is refused before any
process starts. Real processes, started as a user starts
them; helpers and the run's shape are test_distributed's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from conftest import hbpo_cmd, tiny_config
from test_disk_full import HERE, namespaces_work
from test_distributed import SHAPE, TRAINER, events, left_behind, rollouts, run, weights

FSDP = ("--set", "train.parallel=fsdp")
# Greedy evaluation at the last step: rank 0 evaluates while the other rank waits.
EVAL = dict(eval__every=3, eval__data=["testbed:val"], eval__limit=2, eval__modes=["natural"], eval__temperature=0.0)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same config trained by one process and by two FSDP2 ranks."""
    root = tmp_path_factory.mktemp("fsdp")
    cfg = tiny_config(**SHAPE, **EVAL)
    cfg["run"]["dir"] = str(root / "runs")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    one = run(hbpo_cmd("train", "--config", str(config), "--set", "run.name=one"))
    assert one.returncode == 0, one.stderr[-3000:]
    two = run(hbpo_cmd("train", "--config", str(config), "--set", "run.name=fsdp", *FSDP, "--nproc", "2"))
    assert two.returncode == 0, two.stderr[-3000:]
    return root, config


def shard_chunks(checkpoint: Path) -> dict[str, int]:
    """Weight name -> the number of pieces the sharded checkpoint holds it in."""
    from torch.distributed.checkpoint import FileSystemReader

    meta = FileSystemReader(str(checkpoint / "sharded")).read_metadata().state_dict_metadata
    return {k.removeprefix("model.model."): len(v.chunks) for k, v in meta.items() if k.startswith("model.")}


def in_process(*argv: str) -> tuple[int, str]:
    """`python -m hbpo <argv>` in this process (a refusal needs no new interpreter): exit code, stderr."""
    import contextlib
    import io

    from hbpo.cli import main

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            code = main(list(argv))
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    return code, err.getvalue()


def test_two_sharded_ranks_make_the_update_one_process_makes(reference):
    root, _ = reference
    one, two = root / "runs" / "one", root / "runs" / "fsdp"
    a, b = weights(one, 3), weights(two, 3)
    assert a.keys() == b.keys(), "model/ holds the same tensors (tied embeddings once)"
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert diff <= 1e-5, f"weights differ by {diff} after 3 steps"
    assert float(max((a[k] - weights(one, 1)[k]).abs().max() for k in a)) > 1e-4, "training moved the weights"
    assert rollouts(one) == rollouts(two), "every rollout, its reward and its advantages are the same"
    assert len(rollouts(two)) == 3 * 4 * 4
    steps_one = [e["metrics"] for e in events(one) if e["type"] == "step"]
    steps_two = [e["metrics"] for e in events(two) if e["type"] == "step"]
    for m1, m2 in zip(steps_one, steps_two, strict=True):
        for key in ("loss", "entropy", "grad_norm", "clip_frac", "approx_kl", "optimizer_steps", "tokens/generated"):
            assert m1[key] == pytest.approx(m2[key], abs=1e-5), key
    assert steps_two[0]["optimizer_steps"] == 2.0
    evals = [[{k: v for k, v in e.items() if k not in ("time", "tokens_per_s")} for e in events(run_dir)
              if e["type"] == "eval"] for run_dir in (one, two)]
    assert len(evals[1]) == 1 and evals[0] == evals[1], "rank 0 evaluated the weights one process has"

    checkpoint = two / "checkpoints" / "step-000003"
    assert sorted(p.name for p in (checkpoint / "sharded").iterdir()) == [".metadata", "__0_0.distcp", "__1_0.distcp"]
    chunks = shard_chunks(checkpoint)
    assert chunks["model.embed_tokens.weight"] == 2 and chunks["model.layers.0.mlp.up_proj.weight"] == 2, chunks
    state = torch.load(checkpoint / "trainer_state.pt", weights_only=False)
    assert state["world_size"] == 2 and state["parallel"] == "fsdp" and len(state["rng_ranks"]) == 2
    assert "optimizer" not in state, "the optimizer state is in sharded/, each rank's part"


def test_a_killed_run_resumes_exactly_and_only_as_it_was_sharded(reference):
    root, config = reference
    name = "killed"
    run_dir = root / "runs" / name
    proc = subprocess.Popen(hbpo_cmd("train", "--config", str(config), "--set", f"run.name={name}", *FSDP,
                                     "--nproc", "2"), cwd=TRAINER, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not (run_dir / "checkpoints" / "step-000001").is_dir():
            time.sleep(0.2)
        ranks = [p for p in left_behind(name) if p != proc.pid and "hbpo" in Path(f"/proc/{p}/cmdline").read_text()]
        os.kill(max(ranks), signal.SIGKILL)  # a rank (the launcher's children start after it)
        proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    assert not left_behind(name), "no rank is left running"

    code, says = in_process("resume", str(run_dir))  # one process: refused before the model loads
    assert code == 2 and "--nproc: step-00000" in says and "resume it with --nproc 2" in says, says
    code, says = in_process("resume", str(run_dir), "--set", "train.parallel=ddp")
    assert code == 2 and "train.parallel: is 'ddp' now but 'fsdp'" in says, says
    again = run(hbpo_cmd("resume", str(run_dir), "--nproc", "2"))
    assert again.returncode == 0, again.stderr[-3000:]
    a, b = weights(root / "runs" / "fsdp", 3), weights(run_dir, 3)
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert diff <= 1e-5, f"the resumed run ends {diff} from where the uninterrupted one does"
    resumed_at = max(i for i, e in enumerate(events(run_dir)) if e["type"] == "run_start")
    start = events(run_dir)[resumed_at]["resumed_from_step"]
    assert start in (1, 2), "it went on from the last complete checkpoint"
    assert [e["step"] for e in events(run_dir)[resumed_at:] if e["type"] == "step"] == list(range(start + 1, 4))
    assert not [p.name for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".")], \
        "the save the kill cut short left nothing behind"


def test_evaluation_and_gguf_export_read_an_fsdp_checkpoint(reference, tmp_path, capsys):
    gguf = pytest.importorskip("gguf")
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    from hbpo.cli import main

    root, _ = reference
    sharded, one = root / "runs" / "fsdp" / "checkpoints" / "step-000003", root / "runs" / "one" / "checkpoints" / "step-000003"
    # model/ is exactly the weights the ranks' shards hold (read back offline, no process group).
    dcp_to_torch_save(sharded / "sharded", tmp_path / "whole.pt")
    whole = {k.removeprefix("model."): v for k, v in torch.load(tmp_path / "whole.pt")["model"].items()}
    saved = weights(root / "runs" / "fsdp", 3)
    assert saved.keys() <= whole.keys() and all(torch.equal(saved[k], whole[k]) for k in saved)

    def evaluate(checkpoint: Path) -> dict:
        assert main(["eval", "--checkpoint", str(checkpoint), "--data", "testbed:val", "--limit", "4",
                     "--set", "eval.temperature=0"]) == 0
        result = json.loads(capsys.readouterr().out)
        result.pop("tokens_per_s")
        return result

    assert evaluate(sharded) == evaluate(one)

    readers = []
    for name, checkpoint in (("fsdp", sharded), ("one", one)):
        assert main(["export-gguf", str(checkpoint), "--out", str(tmp_path / f"{name}.gguf")]) == 0
        capsys.readouterr()
        readers.append(gguf.GGUFReader(str(tmp_path / f"{name}.gguf")))
    fields = [{k: f.contents() for k, f in r.fields.items()} for r in readers]
    assert fields[0] == fields[1], "the same metadata and tokenizer"
    tensors = [{t.name: torch.tensor(t.data.copy()) for t in r.tensors} for r in readers]
    assert tensors[0].keys() == tensors[1].keys()
    assert max(float((tensors[0][k] - tensors[1][k]).abs().max()) for k in tensors[0]) <= 1e-5


def test_a_bad_strategy_is_refused_before_any_process_starts(reference):
    root, config = reference
    code, says = in_process("train", "--config", str(config), "--set", "run.name=bad", "--set",
                            "train.parallel=zero3", "--nproc", "2")
    assert code == 2 and "train.parallel: unknown strategy 'zero3' (ddp:" in says, says
    assert not (root / "runs" / "bad").exists()


@pytest.mark.skipif(not namespaces_work(), reason="needs `unshare -rm` (user namespaces) to mount a small tmpfs")
def test_a_full_disk_during_a_sharded_save_ends_the_run_cleanly_and_it_resumes():
    """disk_full_cases.py with fsdp runs (one process): tmpfs sizes that fill up at the start, in the
    first checkpoint's shards and in the second's."""
    proc = subprocess.run(["unshare", "-rm", sys.executable, str(HERE / "disk_full_cases.py"), "--cases", "4",
                           "--parallel", "fsdp"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout)
    summary = report["summary"]
    assert summary["bad"] == [] and summary["with_run_end"] == summary["cases"] == 4, summary
    failed = [c["first"]["last"]["reason"] for c in report["cases"] if c["first"]["last"]["status"] == "failed"]
    assert sum("saving checkpoint step-" in reason for reason in failed) >= 2, failed
    assert summary["resumed_to_the_end"] == sum(1 for c in report["cases"] if c["resumed"] is not None) >= 2
