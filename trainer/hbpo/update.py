"""Policy update: token-level PPO clip over a step's rollouts, with gradient accumulation.

The step's rollouts are split into mini-batches (`ppo.mini_batch_queries` queries each, one
optimizer step each) and those into micro-batches (`ppo.micro_batch_size` sequences per
forward/backward). The loss is a token-mean over the whole mini-batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from .config import Config
from .loss import ppo_clip_loss, token_logprobs
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


def forward_logprobs(model, seqs: Sequences, temperature: float):
    logits = model(input_ids=seqs.tokens, attention_mask=seqs.attention, use_cache=False).logits
    return token_logprobs(logits, seqs.tokens, temperature)


@torch.no_grad()
def rollout_logprobs(model, rollouts: Sequence[Rollout], cfg: Config, pad_id: int, device) -> list[torch.Tensor]:
    """log pi_old of each rollout's tokens, computed once before any update (micro-batched)."""
    model.eval()
    out = []
    mb = cfg.ppo.micro_batch_size
    for start in range(0, len(rollouts), mb):
        seqs = pack(rollouts[start:start + mb], pad_id, device)
        logp, _ = forward_logprobs(model, seqs, cfg.generation.temperature)
        out += [row for row in logp]
    model.train()
    return out


def ppo_update(model, optimizer, scheduler, rollouts: Sequence[Rollout], advantages: Sequence[float],
               cfg: Config, pad_id: int, device) -> dict[str, float]:
    """Run `ppo.epochs` passes of clipped updates; return the step's update metrics."""
    old_logp = rollout_logprobs(model, rollouts, cfg, pad_id, device)
    per_query = cfg.rollouts_per_query
    mini_queries = cfg.ppo.mini_batch_queries or cfg.train.queries_per_step
    mini = mini_queries * per_query
    mb = cfg.ppo.micro_batch_size
    totals = dict(loss=0.0, entropy=0.0, tokens=0.0, clipped_low=0.0, clipped_high=0.0, kl=0.0, grad_norm=0.0)
    updates = 0
    model.train()
    for _ in range(cfg.ppo.epochs):
        for m_start in range(0, len(rollouts), mini):
            idx = list(range(m_start, min(m_start + mini, len(rollouts))))
            n_tokens = float(sum(rollouts[i].n_gen for i in idx)) or 1.0
            optimizer.zero_grad(set_to_none=True)
            for u_start in range(0, len(idx), mb):
                part = idx[u_start:u_start + mb]
                seqs = pack([rollouts[i] for i in part], pad_id, device)
                logp, entropy = forward_logprobs(model, seqs, cfg.generation.temperature)
                width = logp.shape[1]
                old = torch.stack([old_logp[i][:width] if old_logp[i].shape[0] >= width else
                                   torch.nn.functional.pad(old_logp[i], (0, width - old_logp[i].shape[0]))
                                   for i in part])
                adv = torch.tensor([advantages[i] for i in part], dtype=logp.dtype, device=device)
                loss, stats = ppo_clip_loss(logp, old, adv, seqs.response, clip_low=cfg.ppo.clip_low,
                                            clip_high=cfg.ppo.clip_high, normalizer=n_tokens)
                loss.backward()
                totals["loss"] += float(loss.detach())
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
