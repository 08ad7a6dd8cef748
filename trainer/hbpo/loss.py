"""Token-level PPO clip loss with clip-higher (DAPO), token-mean aggregation, no KL term; and the
per-token log-probs it consumes (whole logits, or chunked over the scored positions only)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.checkpoint import checkpoint


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
    """Log-prob and entropy of each next token, from whole logits (the reference computation;
    the update uses `chunked_token_logprobs` where it can, see update.forward_logprobs).

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


# Positions per chunk of the output projection in `chunked_token_logprobs`. At Qwen2.5's vocabulary
# (151,936) one chunk's fp32 logits are 1024 x 151,936 x 4 B = 0.62 GB; about three such tensors
# live at once (backward: the recomputed log-softmax and two gradients), ~1.9 GB whatever the batch
# and sequence length, where whole logits take 10 GB per fp32 copy for a micro-batch of 4 x 4,300
# tokens (scripts/bench-logprobs.py measures both). Still one large matrix multiply on a GPU.
LOGPROB_CHUNK = 1024


def chunked_token_logprobs(hidden: torch.Tensor, targets: torch.Tensor, head, temperature: float = 1.0,
                           chunk: int = LOGPROB_CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-prob and entropy of the given next tokens, `chunk` positions at a time.

    hidden:  [N, H] final hidden states at the N positions to score (each predicts the next token)
    targets: [N] the tokens those positions predict
    head:    the output projection, [n, H] -> [n, vocab] logits (the model's lm_head)
    returns (logp [N] float32, entropy [N] float32, detached)

    Per position the math is `token_logprobs`'s: log_softmax(head(h).float() / temperature) at the
    target, entropy -sum p log p. Only `chunk` x vocab logits exist at a time. Under autograd each
    chunk runs inside a non-reentrant checkpoint: only its [chunk, H] input is kept, and backward
    recomputes the chunk's logits instead of every chunk's [chunk, vocab] log-softmax staying alive
    until backward (the fused linear-cross-entropy trick). The entropy is only reported, so it is
    computed without a graph after the log-prob; the checkpoint's recomputation stops once the
    log-prob's saved tensors are rebuilt, before the entropy.
    """
    def score(h: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logp_all = torch.log_softmax(head(h).float() / temperature, dim=-1)
        logp = torch.gather(logp_all, 1, t[:, None]).squeeze(1)
        with torch.no_grad():
            p_logp = logp_all.exp().mul_(logp_all)
            entropy = -p_logp.sum(-1)
        return logp, entropy

    grad = torch.is_grad_enabled()
    parts = []
    # At least one (possibly empty) chunk, so that the result stays in the graph of the head's
    # weights even with no position to score: backward then gives them zero gradients, as before.
    for start in range(0, max(hidden.shape[0], 1), chunk):
        h, t = hidden[start:start + chunk], targets[start:start + chunk]
        parts.append(checkpoint(score, h, t, use_reentrant=False) if grad else score(h, t))
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
