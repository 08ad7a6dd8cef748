"""PPO clip with clip-higher: hand-computed values on small tensors."""

import math

import torch

from hbpo.loss import ppo_clip_loss, token_logprobs


def test_loss_equals_hand_computed_value_and_clips_on_both_sides():
    # two sequences x three positions; the last position of row 1 is padding
    old = torch.zeros(2, 3)
    ratios = torch.tensor([[1.0, 1.5, 0.5], [1.1, 0.7, 1.0]])
    logp = torch.log(ratios)
    adv = torch.tensor([2.0, -1.0])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    loss, stats = ppo_clip_loss(logp, old, adv, mask, clip_low=0.2, clip_high=0.28)
    # row 0 (A=+2): r=1.0 -> -2; r=1.5 -> clipped at 1.28 -> -2.56; r=0.5 -> unclipped -1.0
    # row 1 (A=-1): r=1.1 -> 1.1; r=0.7 -> clipped at 0.8 -> 0.8
    expected = (-2.0 - 2.56 - 1.0 + 1.1 + 0.8) / 5
    assert math.isclose(loss.item(), expected, rel_tol=1e-6)
    assert stats.clipped_high == 1  # the r=1.5, A>0 token hit 1 + eps_high
    assert stats.clipped_low == 1  # the r=0.7, A<0 token hit 1 - eps_low
    assert stats.tokens == 5


def test_clip_higher_is_asymmetric():
    old = torch.zeros(1, 1)
    adv = torch.tensor([1.0])
    mask = torch.ones(1, 1)
    # r = 1.25 is inside (1 - 0.2, 1 + 0.28) but outside a symmetric 0.2 clip
    logp = torch.log(torch.tensor([[1.25]]))
    higher, s1 = ppo_clip_loss(logp, old, adv, mask, clip_low=0.2, clip_high=0.28)
    symmetric, s2 = ppo_clip_loss(logp, old, adv, mask, clip_low=0.2, clip_high=0.2)
    assert math.isclose(higher.item(), -1.25, rel_tol=1e-6) and s1.clipped_high == 0
    assert math.isclose(symmetric.item(), -1.2, rel_tol=1e-6) and s2.clipped_high == 1


def test_gradient_vanishes_only_where_clipped():
    old = torch.zeros(1, 3)
    logp = torch.log(torch.tensor([[1.0, 1.5, 0.5]])).requires_grad_(True)
    loss, _ = ppo_clip_loss(logp, old, torch.tensor([1.0]), torch.ones(1, 3), clip_low=0.2, clip_high=0.28)
    loss.backward()
    g = logp.grad[0]
    assert g[0] != 0 and g[1] == 0 and g[2] != 0


def test_normalizer_gives_a_token_mean_across_micro_batches():
    old = torch.zeros(1, 2)
    logp = torch.zeros(1, 2)
    a, _ = ppo_clip_loss(logp, old, torch.tensor([1.0]), torch.ones(1, 2), clip_low=0.2, clip_high=0.28, normalizer=4.0)
    b, _ = ppo_clip_loss(logp, old, torch.tensor([3.0]), torch.ones(1, 2), clip_low=0.2, clip_high=0.28, normalizer=4.0)
    whole, _ = ppo_clip_loss(torch.zeros(2, 2), torch.zeros(2, 2), torch.tensor([1.0, 3.0]), torch.ones(2, 2),
                             clip_low=0.2, clip_high=0.28)
    assert math.isclose((a + b).item(), whole.item(), rel_tol=1e-6)


def test_token_logprobs_matches_log_softmax():
    torch.manual_seed(0)
    logits = torch.randn(1, 4, 5)
    tokens = torch.tensor([[1, 2, 3, 4]])
    logp, entropy = token_logprobs(logits, tokens, temperature=2.0)
    ref = torch.log_softmax(logits[0, 1] / 2.0, -1)[3]
    assert logp[0, 0] == 0 and math.isclose(logp[0, 2].item(), ref.item(), rel_tol=1e-6)
    assert entropy.shape == (1, 4) and (entropy[0, 1:] > 0).all()
