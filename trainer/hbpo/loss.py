"""Token-level PPO clip loss with clip-higher (DAPO), token-mean aggregation, no KL term."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LossStats:
    clipped_low: float  # tokens whose ratio hit 1 - eps_low with a negative advantage (count)
    clipped_high: float  # tokens whose ratio hit 1 + eps_high with a positive advantage (count)
    approx_kl: float  # sum over tokens of (old_logp - logp), for reporting
    tokens: float  # response tokens in this call


def ppo_clip_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                  mask: torch.Tensor, *, clip_low: float, clip_high: float,
                  normalizer: float | None = None) -> tuple[torch.Tensor, LossStats]:
    """PPO clipped surrogate, averaged over response tokens.

    logp, old_logp: [batch, T] log-probs of the sampled tokens under the current / rollout policy
    advantages:     [batch] per-sequence advantage (broadcast to every token) or [batch, T]
    mask:           [batch, T] 1 for response tokens, 0 for prompt and padding
    normalizer:     divide the token sum by this instead of mask.sum(); gradient accumulation
                    passes the token count of the whole mini-batch so the result is a token-mean
                    over the mini-batch, not a mean of micro-batch means.

    per token: max(-A * r, -A * clip(r, 1 - clip_low, 1 + clip_high)), r = exp(logp - old_logp)
    """
    mask = mask.to(logp.dtype)
    if advantages.dim() == 1:
        advantages = advantages[:, None].expand_as(logp)
    ratio = torch.exp(logp - old_logp)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    per_token = torch.maximum(unclipped, clipped)
    denom = normalizer if normalizer is not None else mask.sum().clamp(min=1.0)
    loss = (per_token * mask).sum() / denom
    with torch.no_grad():
        active = (clipped > unclipped) & mask.bool()
        stats = LossStats(
            clipped_low=float((active & (advantages < 0)).sum()),
            clipped_high=float((active & (advantages > 0)).sum()),
            approx_kl=float(((old_logp - logp) * mask).sum()),
            tokens=float(mask.sum()),
        )
    return loss, stats


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-prob and entropy of each next token.

    logits: [batch, T, vocab] from a forward pass over `tokens` [batch, T]
    returns (logp [batch, T], entropy [batch, T]); position t scores tokens[:, t] given < t,
    position 0 is 0. Logits are divided by the sampling temperature, as the rollout policy was.
    """
    logits = logits[:, :-1].float() / temperature
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = torch.gather(logp_all, 2, tokens[:, 1:, None]).squeeze(2)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    pad = logp.new_zeros(logp.shape[0], 1)
    return torch.cat([pad, logp], 1), torch.cat([pad, entropy.detach()], 1)
