"""A run starts clean: stale temporaries of interrupted saves are removed, config.yaml is written
atomically, an empty dataset is refused instead of looping forever."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import tiny_config
from hbpo import checkpoint as ckpt
from hbpo.config import ConfigError, load_config
from hbpo.events import read_events
from hbpo.train import QuerySampler, new_run_dir, train


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def plant_stale(run_dir: Path, live_pid: int) -> dict[str, Path]:
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    planted = {
        "dead": root / f".step-000001.tmp-{dead_pid()}",
        "mine": root / f".step-000005.tmp-{os.getpid()}",
        "latest": root / f".latest.tmp-{dead_pid()}",
        "live": root / f".step-000009.tmp-{live_pid}",
    }
    for name, path in planted.items():
        if name == "latest":
            path.write_text("step-000001\n")
        else:
            (path / "model").mkdir(parents=True, exist_ok=True)
            (path / "model" / "model.safetensors").write_bytes(b"\0" * 100)
    return planted


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def cleanup_logs(run_dir: Path) -> list[str]:
    events, _ = read_events(run_dir / "events.jsonl")
    return [e["message"] for e in events if e["type"] == "log" and "interrupted save" in e["message"]]


def test_stale_temporaries_are_removed_on_start_and_on_resume(write_config, tmp_path, live_pid):
    config = load_config(write_config(tiny_config(train__steps=1)), ["run.name=hygiene"])
    run_dir = Path(config.run.dir) / "hygiene"
    planted = plant_stale(run_dir, live_pid)  # a folder prepared before the start
    assert train(config, run_dir) == "finished"
    assert not planted["dead"].exists() and not planted["mine"].exists() and not planted["latest"].exists()
    assert planted["live"].is_dir()  # a live process may still be writing it
    [message] = cleanup_logs(run_dir)
    assert "removed 3 temporary" in message and planted["dead"].name in message

    planted = plant_stale(run_dir, live_pid)  # a save killed mid-write, then `resume`
    resumed = load_config(run_dir / "config.yaml", ["train.steps=2"])
    assert train(resumed, run_dir, resume=True) == "finished"
    assert not planted["dead"].exists() and not planted["mine"].exists()
    assert len(cleanup_logs(run_dir)) == 2
    leftovers = sorted(p.name for p in (run_dir / "checkpoints").iterdir() if p.name.startswith("."))
    assert leftovers == [planted["live"].name]


def test_a_resave_killed_between_its_renames_is_restored(tmp_path):
    root = tmp_path / "checkpoints"
    old = root / f".step-000004.old-{dead_pid()}"
    (old / "model").mkdir(parents=True)
    (old / ckpt.STATE_FILE).write_bytes(b"state")
    handled = ckpt.clean_stale_temporaries(tmp_path)
    assert (root / "step-000004" / ckpt.STATE_FILE).read_bytes() == b"state" and not old.exists()
    assert handled == [f"{old.name} (restored as step-000004)"]


def test_config_yaml_is_written_atomically(tmp_path, monkeypatch):
    target = tmp_path / "config.yaml"
    target.write_text("old: true\n")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        ckpt.write_text_atomic(target, "new: " + "x" * 100000 + "\n")
    assert target.read_text() == "old: true\n"  # the old file, whole
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]  # no temporary left behind
    monkeypatch.undo()
    ckpt.write_text_atomic(target, "new: true\n")
    assert target.read_text() == "new: true\n"


def test_train_writes_config_yaml_through_the_atomic_writer(write_config, tmp_path, monkeypatch):
    import hbpo.train as train_module

    config = load_config(write_config(tiny_config()), ["run.name=atomic"])
    run_dir = new_run_dir(config)
    (run_dir / "config.yaml").write_text("previous: true\n")
    calls = []

    def failing(path, text):
        calls.append(Path(path).name)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(train_module, "write_text_atomic", failing)
    with pytest.raises(OSError):
        train(config, run_dir)
    assert calls == ["config.yaml"]
    assert (run_dir / "config.yaml").read_text() == "previous: true\n"


@pytest.mark.parametrize("limit", [0, -1])
def test_an_empty_dataset_is_refused(write_config, limit):
    with pytest.raises(ConfigError, match=r"data.limit: must be at least 1"):
        load_config(write_config(tiny_config(data__limit=limit)))


def test_the_sampler_refuses_zero_problems_instead_of_looping():
    with pytest.raises(ValueError, match="no problems"):
        QuerySampler(0, seed=0, shuffle=True)
    assert QuerySampler(1, seed=0, shuffle=True).draw(3) == [0, 0, 0]


def test_an_empty_data_file_is_refused_naming_data_train(write_config, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match=r"data.train: .*empty"):
        load_config(write_config(tiny_config(data__train=str(empty))))


def test_resume_refuses_a_config_that_no_longer_matches_the_run(write_config):
    config = load_config(write_config(tiny_config(train__steps=1)), ["run.name=mismatch"])
    run_dir = Path(config.run.dir) / "mismatch"
    assert train(config, run_dir) == "finished"
    text = (run_dir / "config.yaml").read_text()
    # config.yaml cut at a section boundary: every later section would fall back to its defaults
    cut = text[: text.index("\noptim:")] + "\n"
    (run_dir / "config.yaml").write_text(cut)
    before = (run_dir / "events.jsonl").read_bytes()
    with pytest.raises(ConfigError) as refused:
        train(load_config(run_dir / "config.yaml", ["train.steps=2"]), run_dir, resume=True)
    message = str(refused.value)
    assert "optim.lr: is 1e-06 now but 0.001 in checkpoint step-000001" in message
    assert "ppo.micro_batch_size: is 8 now but 3 in checkpoint step-000001" in message
    assert "train.steps" not in message.split("resume:")[0]  # a resume may extend the run
    assert (run_dir / "events.jsonl").read_bytes() == before  # nothing started, nothing written
    assert (run_dir / "config.yaml").read_text() == cut

    (run_dir / "config.yaml").write_text(text)  # restored: the resume extends the run
    assert train(load_config(run_dir / "config.yaml", ["train.steps=2", "run.threads=2"]), run_dir,
                 resume=True) == "finished"


def test_resume_without_a_checkpoint_compares_with_the_run_start(write_config):
    config = load_config(write_config(tiny_config(train__steps=1)), ["run.name=nockpt"])
    run_dir = Path(config.run.dir) / "nockpt"
    assert train(config, run_dir) == "finished"
    import shutil
    shutil.rmtree(run_dir / "checkpoints")  # crashed before its first checkpoint
    with pytest.raises(ConfigError, match=r"rollouts_per_query: is 8 now but 4 in the run's last run_start"):
        train(load_config(run_dir / "config.yaml", ["rollouts_per_query=8"]), run_dir, resume=True)


def test_resume_accepts_a_run_recorded_before_a_config_key_existed(write_config):
    config = load_config(write_config(tiny_config(train__steps=1)), ["run.name=older"])
    run_dir = Path(config.run.dir) / "older"
    assert train(config, run_dir) == "finished"
    state = run_dir / "checkpoints" / "step-000001" / "config.yaml"
    recorded = yaml.safe_load(state.read_text())
    del recorded["prompt"]["target_sentence"]  # as written by a trainer that had no such key
    state.write_text(yaml.safe_dump(recorded, sort_keys=False))
    assert train(load_config(run_dir / "config.yaml", ["train.steps=2"]), run_dir, resume=True) == "finished"
