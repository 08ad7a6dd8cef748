"""Policy update: token-level PPO clip over a step's rollouts, with gradient accumulation.

The step's rollouts are split into mini-batches (`ppo.mini_batch_queries` queries each, one
optimizer step each) and those into micro-batches (`ppo.micro_batch_size` sequences per
forward/backward). The loss is a token-mean over the whole mini-batch.

Memory at real size (issue 15): log-probs are computed only at the positions that predict
response tokens, a chunk of positions at a time (loss.chunked_token_logprobs), never as
[batch, T, vocab] logits; and the old log-probs' extra forward is skipped when one optimizer step
sees the batch (there they equal the current ones, detached).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Sequence

import torch

from .config import Config
from .dist import World, all_sum
from .loss import LOGPROB_CHUNK, chunked_token_logprobs, ppo_clip_loss, token_logprobs
from .rollout import Rollout


@dataclass
class Sequences:
    """Right-padded prompt+response token ids of some rollouts."""

    tokens: torch.Tensor  # [batch, T] long
    attention: torch.Tensor  # [batch, T] 1 for real tokens
    response: torch.Tensor  # [batch, T] 1 for response tokens (the ones the loss sees)


def pack(rollouts: Sequence[Rollout], pad_id: int, device) -> Sequences:
    width = max(len(r.prompt_ids) + len(r.response_ids) for r in rollouts)
    tokens = torch.full((len(rollouts), width), pad_id, dtype=torch.long)
    attention = torch.zeros_like(tokens)
    response = torch.zeros_like(tokens)
    for i, r in enumerate(rollouts):
        p, g = len(r.prompt_ids), len(r.response_ids)
        tokens[i, :p + g] = torch.tensor(r.prompt_ids + r.response_ids)
        attention[i, :p + g] = 1
        response[i, p:p + g] = 1
    return Sequences(tokens.to(device), attention.to(device), response.to(device))


# Model types whose causal-LM forward is exactly `lm_head(decoder(...).last_hidden_state)`, checked
# in transformers' modeling code: no logit soft-capping or scaling (Gemma 2/3, Cohere and Granite
# have one), so the decoder and head can be called apart. Other models take the whole-logits path.
SPLIT_HEAD_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3"})


def decoder_and_head(model):
    """(decoder, lm_head) of a causal LM, or None where they cannot be called apart safely. Through
    a peft LoRA wrapper both resolve (attribute lookups fall through to the wrapped model) to the
    modules LoRA was injected into, so adapters act as in model(...)."""
    if getattr(getattr(model, "config", None), "model_type", None) not in SPLIT_HEAD_TYPES:
        return None
    return model.get_decoder(), model.get_output_embeddings()


def forward_logprobs(model, seqs: Sequences, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(logp [batch, T], entropy [batch, T]) of each response token (position t scores tokens[:, t]
    given < t); 0 at prompt and padding positions, which the loss and metrics mask out.

    The decoder runs once; its hidden states at the positions that predict response tokens go
    through the output projection in chunks (loss.chunked_token_logprobs), so peak memory grows
    with LOGPROB_CHUNK x vocab, not batch x T x vocab."""
    parts = decoder_and_head(model)
    if parts is None:
        logits = model(input_ids=seqs.tokens, attention_mask=seqs.attention, use_cache=False).logits
        logp, entropy = token_logprobs(logits, seqs.tokens, temperature)
        return logp * seqs.response, entropy * seqs.response
    decoder, head = parts
    hidden = decoder(input_ids=seqs.tokens, attention_mask=seqs.attention, use_cache=False).last_hidden_state
    scored = seqs.response.bool()  # [batch, T]: tokens to score
    scored[:, 0] = False  # nothing predicts the first token (always a prompt token in practice)
    predicts = scored[:, 1:]  # [batch, T-1]: position t predicts token t + 1
    logp, entropy = chunked_token_logprobs(hidden[:, :-1][predicts], seqs.tokens[:, 1:][predicts], head,
                                           temperature, LOGPROB_CHUNK)
    zeros = torch.zeros(seqs.tokens.shape, dtype=torch.float32, device=seqs.tokens.device)
    return zeros.masked_scatter(scored, logp), zeros.masked_scatter(scored, entropy)


@torch.no_grad()
def rollout_logprobs(model, rollouts: Sequence[Rollout], cfg: Config, pad_id: int, device,
                     wrapped=None) -> list[torch.Tensor]:
    """log pi_old of each rollout's tokens, computed once before any update (micro-batched);
    through `wrapped` (see ppo_update) when given: sharded weights are gathered only in its forward."""
    model.eval()
    out = []
    mb = cfg.ppo.micro_batch_size
    for start in range(0, len(rollouts), mb):
        seqs = pack(rollouts[start:start + mb], pad_id, device)
        if wrapped is None:
            logp, _ = forward_logprobs(model, seqs, cfg.generation.temperature)
        else:
            logp, _ = wrapped(seqs.tokens, seqs.attention, seqs.response)
        out += [row for row in logp]
    model.train()
    return out


def has_dropout(model) -> bool:
    """Whether a train-mode forward is random: a dropout module with p > 0 (LoRA's among them) or a
    config dropout rate > 0 (attention dropout is applied functionally, not as a module)."""
    if any(isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0 for m in model.modules()):
        return True
    config = getattr(model, "config", None)
    rates = config.to_dict().items() if hasattr(config, "to_dict") else ()
    return any("dropout" in k and isinstance(v, (int, float)) and v > 0 for k, v in rates)


class LogprobModule(torch.nn.Module):
    """`forward_logprobs` as a module, for DistributedDataParallel to wrap (or FSDP2 to shard as its
    root, hbpo/sharding.py): DDP syncs gradients, and FSDP gathers the weights outside the decoder
    layers, only for what runs through its own forward, and the log-probs call the decoder and head apart."""

    def __init__(self, model, temperature: float):
        super().__init__()
        self.model, self.temperature = model, temperature

    def forward(self, tokens: torch.Tensor, attention: torch.Tensor, response: torch.Tensor):
        return forward_logprobs(self.model, Sequences(tokens, attention, response), self.temperature)


def ppo_update(model, optimizer, scheduler, rollouts: Sequence[Rollout], advantages: Sequence[float],
               cfg: Config, pad_id: int, device, *, world: World = World(), wrapped=None,
               _force_old_forward: bool = False) -> dict[str, float]:
    """Run `ppo.epochs` passes of clipped updates; return the step's update metrics.

    With several ranks (`world`), `rollouts` are this rank's share of the step and `wrapped` is the
    DistributedDataParallel of a LogprobModule of `model`, or its FSDP2 root (sharding.py; with one
    rank too): each mini-batch is every rank's share of it, and the loss stays a token-mean over the
    whole mini-batch (the token count all-reduced; DDP and FSDP average gradients over ranks, so each
    rank's sum is scaled by world size / tokens), so N ranks make the update one process makes of the
    same global batch. Metrics cover every rank. Both have `no_sync()`: gradients are reduced once a
    mini-batch, on its last micro-batch's backward.
    `_force_old_forward` (tests only) runs the old log-probs' forward even where it is skipped."""
    per_query = cfg.rollouts_per_query
    mini_queries = cfg.ppo.mini_batch_queries or cfg.train.queries_per_step
    mini = mini_queries // world.size * per_query  # this rank's share of a mini-batch
    mb = cfg.ppo.micro_batch_size
    # One optimizer step over the whole batch: every logp is taken before any weight moves, so
    # pi_old is the policy being differentiated and its log-probs are the current ones, detached
    # (ratio 1; as TRL does). A separate no-grad forward would only recompute them (~23 % of the
    # update's time). Not so with dropout: the train-mode forward then differs from the eval-mode one.
    reuse = (cfg.ppo.epochs == 1 and mini >= len(rollouts) and not has_dropout(model)
             and not _force_old_forward)
    old_logp = None if reuse else rollout_logprobs(model, rollouts, cfg, pad_id, device, wrapped)
    totals = dict(loss=0.0, entropy=0.0, tokens=0.0, clipped_low=0.0, clipped_high=0.0, kl=0.0, grad_norm=0.0)
    updates = 0
    model.train()
    for _ in range(cfg.ppo.epochs):
        for m_start in range(0, len(rollouts), mini):
            idx = list(range(m_start, min(m_start + mini, len(rollouts))))
            n_tokens = all_sum([float(sum(rollouts[i].n_gen for i in idx))], world)[0] or 1.0
            optimizer.zero_grad(set_to_none=True)
            for u_start in range(0, len(idx), mb):
                part = idx[u_start:u_start + mb]
                seqs = pack([rollouts[i] for i in part], pad_id, device)
                # Gradients are all-reduced once a mini-batch, on its last micro-batch's backward.
                sync = wrapped is None or u_start + mb >= len(idx)
                with contextlib.nullcontext() if sync else wrapped.no_sync():
                    if wrapped is None:
                        logp, entropy = forward_logprobs(model, seqs, cfg.generation.temperature)
                    else:
                        logp, entropy = wrapped(seqs.tokens, seqs.attention, seqs.response)
                    width = logp.shape[1]
                    old = logp.detach() if old_logp is None else torch.stack([
                        old_logp[i][:width] if old_logp[i].shape[0] >= width else
                        torch.nn.functional.pad(old_logp[i], (0, width - old_logp[i].shape[0])) for i in part])
                    adv = torch.tensor([advantages[i] for i in part], dtype=logp.dtype, device=device)
                    loss, stats = ppo_clip_loss(logp, old, adv, seqs.response, clip_low=cfg.ppo.clip_low,
                                                clip_high=cfg.ppo.clip_high, normalizer=n_tokens / world.size)
                    loss.backward()
                totals["loss"] += float(loss.detach()) / world.size
                totals["entropy"] += float((entropy * seqs.response).sum())
                totals["tokens"] += stats.tokens
                totals["clipped_low"] += stats.clipped_low
                totals["clipped_high"] += stats.clipped_high
                totals["kl"] += stats.approx_kl
            grad_norm = torch.nn.utils.clip_grad_norm_(
                [p for p in model.parameters() if p.requires_grad], cfg.optim.max_grad_norm)
            optimizer.step()
            scheduler.step()
            totals["grad_norm"] += float(grad_norm)
            updates += 1
    names = ("loss", "entropy", "tokens", "clipped_low", "clipped_high", "kl")
    totals |= dict(zip(names, all_sum([totals[k] for k in names], world)))  # every rank's share
    tokens = totals["tokens"] or 1.0
    return {
        "loss": totals["loss"] / max(updates, 1),
        "entropy": totals["entropy"] / tokens,
        "clip_frac": (totals["clipped_low"] + totals["clipped_high"]) / tokens,
        "clip_frac/low": totals["clipped_low"] / tokens,
        "clip_frac/high": totals["clipped_high"] / tokens,
        "approx_kl": totals["kl"] / tokens,
        "grad_norm": totals["grad_norm"] / max(updates, 1),
        "lr": scheduler.get_last_lr()[0],
        "optimizer_steps": float(updates),
    }
