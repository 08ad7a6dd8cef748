"""Bad configs are refused before any model loads, with a message naming the field or line."""

import subprocess
import time

import pytest
import yaml

from conftest import hbpo_cmd, tiny_config
from hbpo.config import ConfigError, load_config, to_dict


def refuse(write_config, tmp_path, cfg, *needles):
    path = write_config(cfg)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    for needle in needles:
        assert needle in str(err.value)
    return str(err.value)


def test_the_tiny_config_is_valid(write_config):
    cfg = load_config(write_config(tiny_config()))
    assert cfg.tiers == [8, 16] and cfg.rollout_tiers == [8, 16]
    resolved = to_dict(cfg)
    assert resolved["reward"]["name"] == "hbpo" and resolved["advantage"]["name"] == "hbpo"
    assert resolved["reward"]["alpha"] == pytest.approx(1 / 24)


@pytest.mark.parametrize("overrides, needles", [
    ({"tiers": [16, 8]}, ["tiers: must be strictly ascending, got [16, 8]"]),
    ({"tiers": [8, 8]}, ["tiers: must be strictly ascending"]),
    ({"tiers": [8, 32]}, ["tiers: budget 32 exceeds max_response_tokens (L_max) 24"]),
    ({"rollouts_per_query": 5}, ["rollouts_per_query: 5 is not divisible by the 2 tiers [8, 16]"]),
    ({"reward__alpha": -0.1}, ["reward.alpha: must be >= 0, got -0.1"]),
    ({"reward__beta": -1}, ["reward.beta: must be >= 0, got -1"]),
    ({"advantage__name": "ppo"}, ["advantage.name: unknown estimator 'ppo' (known: hbpo, hbpo-reference, grpo)"]),
    ({"reward__name": "length"}, ["reward.name: unknown reward 'length'"]),
    ({"method": "dpo"}, ["method: unknown method 'dpo'"]),
    ({"model__path": "./no/such/model"}, ["model.path: no such directory", "no/such/model"]),
    ({"data__train": "missing.jsonl"}, ["data.train: no such file", "missing.jsonl"]),
    ({"train__steps": "two"}, ["train.steps: expected an integer, got 'two'"]),
    ({"trian": {"steps": 2}}, ["trian: unknown key (did you mean 'train'?)"]),
    ({"eval__modes": ["tier512"]}, ["eval.modes[0]: expected natural, efficiency or tier:<budget>"]),
])
def test_bad_config_is_refused_naming_the_field(write_config, tmp_path, overrides, needles):
    refuse(write_config, tmp_path, tiny_config(**overrides), *needles)


def test_every_problem_is_reported_at_once(write_config, tmp_path):
    message = refuse(write_config, tmp_path, tiny_config(tiers=[16, 8], reward__beta=-1), "tiers:", "reward.beta:")
    assert message.count("\n  - ") == 2


def test_broken_data_record_names_the_line(write_config, tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text('{"problem": "1+1", "answer": "2"}\n{"problem": "2+2"}\n')
    message = refuse(write_config, tmp_path, tiny_config(data__train=str(data)), "data.train:", "line 2", "answer")
    assert "train.jsonl" in message


def test_grpo_and_cosine_need_no_tiers(write_config):
    cfg = load_config(write_config(tiny_config(method="grpo", rollouts_per_query=3)))
    assert cfg.rollout_tiers == [None]
    assert to_dict(cfg)["reward"]["name"] == "binary"
    cfg = load_config(write_config(tiny_config(method="cosine")))
    assert to_dict(cfg)["reward"]["name"] == "cosine" and to_dict(cfg)["advantage"]["name"] == "grpo"


def test_overrides_parse_as_yaml(write_config):
    cfg = load_config(write_config(tiny_config()), ["tiers=[4, 8, 12, 16]", "train.steps=5", "optim.lr=3e-4"])
    assert cfg.tiers == [4, 8, 12, 16] and cfg.train.steps == 5 and cfg.optim.lr == 3e-4


def test_cli_refuses_without_starting_a_run(write_config, tmp_path):
    path = write_config(tiny_config(tiers=[16, 8]))
    started = time.perf_counter()
    proc = subprocess.run(hbpo_cmd("train", "--config", str(path)), capture_output=True, text=True)
    assert proc.returncode == 2
    assert "tiers: must be strictly ascending" in proc.stderr
    assert not (tmp_path / "runs").exists()  # no run folder, no events, no model
    assert time.perf_counter() - started < 60


def test_validate_command_reports_json(write_config):
    import json

    proc = subprocess.run(hbpo_cmd("validate", "--json", "--config", str(write_config(tiny_config(reward__beta=-2)))),
                          capture_output=True, text=True)
    out = json.loads(proc.stdout)
    assert proc.returncode == 2 and out["ok"] is False and out["problems"] == ["reward.beta: must be >= 0, got -2.0"]


def test_validate_command_counts_the_gpus_it_sees(write_config):
    """The verdict carries the CUDA devices torch sees (the editor asks how many processes to start
    from it): none on this machine, and none when CUDA_VISIBLE_DEVICES hides them all."""
    import json
    import os

    import torch

    from hbpo.devices import visible_cuda_devices

    cmd = hbpo_cmd("validate", "--json", "--config", str(write_config(tiny_config())))
    out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    assert out["ok"] is True and out["cuda_devices"] == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    hidden = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert json.loads(hidden.stdout)["cuda_devices"] == 0
    assert visible_cuda_devices() == out["cuda_devices"]


def test_shipped_configs_load():
    from importlib import resources

    folder = resources.files("hbpo").joinpath("configs")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".yaml"))
    assert {"default.yaml", "paper.yaml"} <= set(names)
    default = load_config(str(folder.joinpath("default.yaml")))  # fully valid, files included
    assert default.model.path == "testbed:base" and default.tiers == [32, 64, 128, 160]
    paper = load_config(str(folder.joinpath("paper.yaml")), check_files=False)  # paths are the user's
    assert paper.tiers == [512, 1024, 2048, 2560] and paper.rollouts_per_query == 16
    assert paper.optim.lr == 1e-6 and paper.train.steps == 629
