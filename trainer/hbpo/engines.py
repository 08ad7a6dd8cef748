"""Rollout engines (`generation.engine`), registered by name: what turns prompts into response ids.

    engine = make_engine(cfg, par, tokenizer, device, dtype)   # once the policy is loaded (sharding.py)
    with engine.generating():                                  # rollouts and evaluation
        results, stats = engine.generate(prompts, max_new_tokens=..., gen=..., ...)
    ppo_update(...)
    engine.policy_changed()                                    # after every optimizer step
    engine.close()

`hf`: transformers' `generate` on the policy itself (rollout.generate), the reference and the CPU
default; under fsdp the whole weights are gathered while it generates.

`vllm`: a vLLM engine in the trainer's own process, as TRL's colocate mode and verl's hybrid engine
run it. It is built from the policy's config alone (`load_format="dummy"`: no weights are written or
read from disk) and is handed the policy's weights in memory at the start and after every optimizer
step (vLLM's in-place `reload_weights`; with LoRA the adapters are merged for the copy), so rollouts
always come from the current policy. Prompts go in as the token ids the hf path builds and responses
come back as token ids, so `n_gen`, truncation and token marks are computed the same way. On CUDA
the engine sleeps during the update (KV cache dropped, weights released: vLLM's sleep mode) and
takes `generation.vllm_gpu_memory` of the GPU while awake.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
import time
from typing import Callable, Sequence

import torch

from . import rollout
from .config import VLLM_GPU_MEMORY_DEFAULT, Config, ConfigError, GenerationConfig, vllm_missing

ENGINES: dict[str, type] = {}

# vLLM logs to stdout unless told otherwise, and stdout is where `--events-stdout` events and `hbpo
# eval`'s JSON go: its logs go to stderr, with the trainer's own (set before vLLM is first imported).
os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")


def register_engine(name: str):
    def add(cls):
        if name in ENGINES:
            raise ValueError(f"engine {name!r} is registered twice")
        ENGINES[name] = cls
        cls.name = name
        return cls
    return add


def make_engine(cfg: Config, policy, tokenizer, device: torch.device, dtype: torch.dtype):
    """The engine `generation.engine` names. `policy`: a training run's holder of the model
    (sharding.py: Replicated or Sharded), or a plain model (evaluation)."""
    par = policy if hasattr(policy, "gathered") else _Plain(policy)
    return ENGINES[cfg.generation.engine](cfg, par, tokenizer, device, dtype)


def _prompt_ids(tokenizer, prompts: Sequence[str]) -> list[list[int]]:
    # The ids the hf path generates from: the prompt text as it is, no special tokens added.
    return [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]


@register_engine("hf")
class HFEngine:
    """transformers.generate on the policy (rollout.generate): nothing to copy, nothing to sync."""

    def __init__(self, cfg: Config | None, par, tokenizer, device=None, dtype=None):
        self.par, self.tokenizer = par, tokenizer

    @classmethod
    def of(cls, model, tokenizer) -> "HFEngine":
        """An engine for a plain model (evaluation, tests): no sharding to gather."""
        return cls(None, _Plain(model), tokenizer)

    def generating(self):
        return self.par.gathered()  # fsdp: the whole weights while generating; otherwise nothing

    def generate(self, prompts: Sequence[str], **kw):
        return rollout.generate(self.par.policy, self.tokenizer, prompts, **kw)

    def policy_changed(self) -> None:
        pass

    def close(self) -> None:
        pass


class _Plain:
    def __init__(self, model):
        self.policy = self.model = model

    def gathered(self):
        return contextlib.nullcontext()


def _whole(t: torch.Tensor) -> torch.Tensor:
    """A weight whole: under fsdp a parameter is a DTensor holding this rank's shard, and
    `full_tensor` all-gathers it (every rank loads its engine at the same points, in the same order)."""
    t = t.detach()
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def _vllm_weights(model) -> list[tuple[str, torch.Tensor]]:
    """The policy's weights under the names of its base model's checkpoint: what vLLM's loader reads.
    A peft model's LoRA adapters are merged into a copy of each adapted weight (the trained module
    stays as it is), so vLLM serves exactly the policy the update trains. `model`: the transformers
    model itself (under fsdp its parameters are shards: see `_whole`)."""
    from peft import PeftModel

    if not isinstance(model, PeftModel):
        return [(k, _whole(v)) for k, v in model.state_dict().items()]
    base = model.get_base_model()
    merged: dict[str, torch.Tensor] = {}
    for name, module in base.named_modules():
        if hasattr(module, "base_layer") and hasattr(module, "get_delta_weight"):
            weight = module.base_layer.weight.detach()
            for adapter in module.active_adapters:
                if adapter in module.lora_A:
                    weight = weight + module.get_delta_weight(adapter).to(weight.dtype)
            merged[f"{name}.weight"] = _whole(weight)
    out = []
    for key, value in base.state_dict().items():
        if "lora_" in key:
            continue
        key = key.replace(".base_layer.", ".")
        out.append((key, merged[key] if key in merged else _whole(value)))
    return out


def _one_engine_per_rank() -> dict:
    """Under torchrun every rank holds its own engine for its own queries (TRL's colocate mode at
    tensor-parallel size 1). vLLM's external-launcher mode joins the process group the trainer
    already has instead of starting one; the engines then never talk to each other, so each rank
    generates (and stops) on its own. Data-parallel size stays 1: vLLM's data-parallel engines
    would all-reduce their unfinished requests every step, in lockstep."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return {}
    return dict(distributed_executor_backend="external_launcher", tensor_parallel_size=1)


@register_engine("vllm")
class VLLMEngine:
    """vLLM in this process; see the module's docstring."""

    def __init__(self, cfg: Config, par, tokenizer, device: torch.device, dtype: torch.dtype):
        problem = vllm_missing()
        if problem:
            raise ConfigError([problem])
        # One engine inside this process (no engine-core subprocess): the weights are handed over by
        # reference, and a script needs no `if __name__ == "__main__"` guard.
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        if device.type == "cpu":
            if cfg.generation.vllm_gpu_memory != VLLM_GPU_MEMORY_DEFAULT:
                raise ConfigError([f"generation.vllm_gpu_memory: applies to a CUDA device; this run is on "
                                   f"{device} (vLLM's CPU KV cache is VLLM_CPU_KVCACHE_SPACE GiB, default 1 here)"])
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; vLLM's default takes a share of RAM
        from vllm import LLM

        self.par, self.tokenizer, self.cuda = par, tokenizer, device.type == "cuda"
        self.eos = tokenizer.eos_token_id
        model = par.model.get_base_model() if hasattr(par.model, "get_base_model") else par.model
        config = model.config
        threads = torch.get_num_threads()
        self._folder = tempfile.TemporaryDirectory(prefix="hbpo-vllm-")
        config.save_pretrained(self._folder.name)  # the architecture only: the weights come from memory
        longest = getattr(config, "max_position_embeddings", None) or cfg.max_response_tokens + 4096
        self.llm = LLM(
            **_one_engine_per_rank(),
            model=self._folder.name, skip_tokenizer_init=True, load_format="dummy",
            dtype=str(dtype).removeprefix("torch."), seed=cfg.run.seed,
            max_model_len=min(longest, cfg.max_response_tokens + 4096),
            enforce_eager=not self.cuda, enable_prefix_caching=True,
            # A prompt split over two engine steps rewinds its seeded sampler, which only CUDA's
            # generators can do ("CPU Generator does not use offset"): on CPU prompts are not split.
            enable_chunked_prefill=self.cuda,
            **(dict(gpu_memory_utilization=cfg.generation.vllm_gpu_memory, enable_sleep_mode=True)
               if self.cuda else {}))
        torch.set_num_threads(threads)  # vLLM's CPU worker sets its own; the update keeps the run's
        self._asleep = False
        self._requests = itertools.count()
        self._load()

    def _load(self) -> None:
        weights = _vllm_weights(self.par.model)
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": iter(weights)})

    @contextlib.contextmanager
    def generating(self):
        if self._asleep:
            self.llm.wake_up(tags=["kv_cache"])
            self._asleep = False
        yield

    def policy_changed(self) -> None:
        """The optimizer changed the policy: copy its weights in (on CUDA, into the woken weights'
        memory, then the KV cache comes back at the next `generating`)."""
        if self.cuda:
            self.llm.sleep(level=2)  # drop the old weights and the KV cache
            self.llm.wake_up(tags=["weights"])
            self._asleep = True
        self._load()

    def sampling(self, *, max_new_tokens: int, gen: GenerationConfig, greedy: bool, seed: int | None):
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        common = dict(max_tokens=max_new_tokens, stop_token_ids=[self.eos], detokenize=False, seed=seed,
                      output_kind=RequestOutputKind.FINAL_ONLY)
        if greedy:
            return SamplingParams(temperature=0.0, **common)
        return SamplingParams(temperature=gen.temperature, top_p=gen.top_p, top_k=gen.top_k or -1, **common)

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, gen: GenerationConfig,
                 greedy: bool = False, should_stop: Callable[[], bool] = lambda: False,
                 seed: int | None = None, positions: Sequence[int] | None = None):
        """(prompt_ids, response_ids) per prompt, as rollout.generate returns them. `seed`: prompt
        i samples from its own seed (the run's, the step's and its place `positions[i]`), so what it
        draws does not depend on which prompts share its batch. The stop flag is polled between
        engine steps (a step is one token for every running sequence): a stop aborts every request
        and returns the finished ones."""
        from vllm.inputs import TokensPrompt

        ids = _prompt_ids(self.tokenizer, prompts)
        places = list(positions) if positions is not None else list(range(len(prompts)))
        params = [self.sampling(max_new_tokens=max_new_tokens, gen=gen, greedy=greedy,
                                seed=None if seed is None else (seed + 1_000_003 * place) % 2**63)
                  for place in places]
        started = time.perf_counter()
        engine = self.llm.llm_engine
        request_ids = [f"hbpo-{next(self._requests)}" for _ in ids]
        for request_id, prompt_ids, p in zip(request_ids, ids, params):
            engine.add_request(request_id, TokensPrompt(prompt_token_ids=prompt_ids), p)
        index = {r: i for i, r in enumerate(request_ids)}
        responses: dict[int, list[int]] = {}
        while engine.has_unfinished_requests():
            if should_stop():
                engine.abort_request([r for i, r in enumerate(request_ids) if i not in responses])
                break
            for out in engine.step():
                if out.finished:
                    responses[index[out.request_id]] = list(out.outputs[0].token_ids)
        done = sorted(responses)
        if len(done) < len(prompts):  # stopped: the prompts before the first unfinished one, in order
            done = [i for n, i in enumerate(done) if i == n]
        results = [(ids[i], responses[i]) for i in done]
        return results, rollout.GenerationStats(sum(len(r) for _, r in results), time.perf_counter() - started)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            del self.llm
        self._folder.cleanup()
