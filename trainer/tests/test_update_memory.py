"""Issue 15, memory and waste at real size: log-probs over response positions only, in chunks,
equal the whole-logits computation (values and gradients); the old log-probs' forward is skipped
only where one optimizer step sees the batch, without changing the update."""

from __future__ import annotations

import copy

import pytest
import torch

import hbpo.update
from conftest import tiny_config
from hbpo.config import load_config
from hbpo.data import Problem
from hbpo.loss import chunked_token_logprobs, ppo_clip_loss, token_logprobs
from hbpo.model import load_policy
from hbpo.rollout import Rollout
from hbpo.update import Sequences, forward_logprobs, pack, ppo_update

CPU = torch.device("cpu")
PROBLEM = Problem(id="p", problem="?", answer="1", difficulty=None, source="test")


def setup(write_config, **overrides):
    cfg = load_config(write_config(tiny_config(**overrides)))
    model, tokenizer = load_policy(cfg.model, CPU, torch.float32, seed=cfg.run.seed)
    return cfg, model, tokenizer


def make_rollouts(n: int, vocab: int, seed: int = 0, empty: bool = False) -> list[Rollout]:
    """Random token ids of mixed prompt and response lengths (so pack right-pads)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for k in range(n):
        p = int(torch.randint(2, 9, (1,), generator=g))
        r = 0 if empty else int(torch.randint(1, 14, (1,), generator=g))
        ids = torch.randint(3, vocab, (p + r,), generator=g).tolist()
        out.append(Rollout(query_index=k // 4, problem=PROBLEM, tier=8, sample=k % 4,
                           prompt="", prompt_ids=ids[:p], response_ids=ids[p:], text="", n_gen=r,
                           truncated=False, token_marks=[]))
    return out


def whole_logits(model, seqs: Sequences, temperature: float):
    """The computation before issue 15: full logits at every position."""
    logits = model(input_ids=seqs.tokens, attention_mask=seqs.attention, use_cache=False).logits
    return token_logprobs(logits, seqs.tokens, temperature)


def grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}


def check_against_whole_logits(model, seqs: Sequences, temperature: float):
    weights = torch.randn(seqs.tokens.shape, generator=torch.Generator().manual_seed(1))
    model.zero_grad(set_to_none=True)
    ref_logp, ref_ent = whole_logits(model, seqs, temperature)
    (ref_logp * weights * seqs.response).sum().backward()
    ref_grads = grads(model)
    model.zero_grad(set_to_none=True)
    logp, ent = forward_logprobs(model, seqs, temperature)
    (logp * weights * seqs.response).sum().backward()
    new_grads = grads(model)

    mask = seqs.response.bool()
    assert logp.shape == ent.shape == seqs.tokens.shape and logp.dtype == ent.dtype == torch.float32
    torch.testing.assert_close(logp[mask], ref_logp[mask], atol=1e-5, rtol=0)
    torch.testing.assert_close(ent[mask], ref_ent[mask], atol=1e-5, rtol=0)
    assert (logp[~mask] == 0).all() and (ent[~mask] == 0).all()  # prompt and padding: not scored
    assert not ent.requires_grad
    assert ref_grads.keys() == new_grads.keys() and ref_grads
    for name, g in ref_grads.items():
        torch.testing.assert_close(new_grads[name], g, atol=1e-5, rtol=0, msg=name)


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
@pytest.mark.parametrize("chunk", [1, 7, 1024])
def test_chunked_logprobs_equal_whole_logits(write_config, monkeypatch, arch, chunk):
    cfg, model, _ = setup(write_config, model__path=f"tiny:{arch}")
    monkeypatch.setattr(hbpo.update, "LOGPROB_CHUNK", chunk)
    seqs = pack(make_rollouts(5, cfg.model.tiny.vocab_size), pad_id=0, device=CPU)
    assert (seqs.attention == 0).any()  # mixed lengths: right padding present
    check_against_whole_logits(model, seqs, temperature=0.7)


@pytest.mark.parametrize("checkpointing", [False, True])
def test_lora_path_equals_whole_logits(write_config, monkeypatch, checkpointing):
    cfg, model, _ = setup(write_config, model__gradient_checkpointing=checkpointing,
                          model__lora={"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]})
    assert type(model).__name__.startswith("Peft")
    model.train()
    with torch.no_grad():  # LoRA's B starts at zero: make the adapters act on the forward
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    decoder, head = hbpo.update.decoder_and_head(model)
    assert any("lora" in n for n, _ in decoder.named_modules())  # the injected decoder, not a copy
    monkeypatch.setattr(hbpo.update, "LOGPROB_CHUNK", 5)
    seqs = pack(make_rollouts(4, 320, seed=3), pad_id=0, device=CPU)
    check_against_whole_logits(model, seqs, temperature=1.3)


def test_other_model_types_take_the_whole_logits_path(write_config, monkeypatch):
    cfg, model, _ = setup(write_config)
    seqs = pack(make_rollouts(3, 320, seed=5), pad_id=0, device=CPU)
    with torch.no_grad():
        chunked = forward_logprobs(model, seqs, 0.9)
        monkeypatch.setattr(hbpo.update, "SPLIT_HEAD_TYPES", frozenset())
        assert hbpo.update.decoder_and_head(model) is None
        whole = forward_logprobs(model, seqs, 0.9)
    for a, b in zip(chunked, whole):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_pure_chunked_function_matches_token_logprobs():
    torch.manual_seed(0)
    head = torch.nn.Linear(6, 11)
    hidden = torch.randn(2, 5, 6)
    tokens = torch.randint(0, 11, (2, 5))
    ref_logp, ref_ent = token_logprobs(head(hidden), tokens, temperature=0.5)
    for chunk in (1, 3, 8):
        logp, ent = chunked_token_logprobs(hidden[:, :-1].reshape(-1, 6), tokens[:, 1:].reshape(-1), head, 0.5, chunk)
        torch.testing.assert_close(logp, ref_logp[:, 1:].reshape(-1), atol=1e-6, rtol=0)
        torch.testing.assert_close(ent, ref_ent[:, 1:].reshape(-1), atol=1e-6, rtol=0)


def test_a_micro_batch_without_response_tokens_still_backpropagates(write_config):
    cfg, model, _ = setup(write_config)
    seqs = pack(make_rollouts(2, 320, empty=True), pad_id=0, device=CPU)
    logp, _ = forward_logprobs(model, seqs, 1.0)
    loss, stats = ppo_clip_loss(logp, logp.detach(), torch.ones(2), seqs.response, clip_low=0.2, clip_high=0.28)
    loss.backward()
    assert stats.tokens == 0
    assert all(p.grad is not None and (p.grad == 0).all() for p in model.parameters())


# ------------------------------------------------------------------------ the old log-probs' forward

def old_ppo_update(model, optimizer, scheduler, rollouts, advantages, cfg, pad_id, device):
    """ppo_update as it was before issue 15 (whole logits, old log-probs always recomputed)."""
    model.eval()
    old_logp = []
    mb = cfg.ppo.micro_batch_size
    with torch.no_grad():
        for start in range(0, len(rollouts), mb):
            logp, _ = whole_logits(model, pack(rollouts[start:start + mb], pad_id, device), cfg.generation.temperature)
            old_logp += [row for row in logp]
    model.train()
    mini = (cfg.ppo.mini_batch_queries or cfg.train.queries_per_step) * cfg.rollouts_per_query
    totals = dict(loss=0.0, entropy=0.0, tokens=0.0, clipped_low=0.0, clipped_high=0.0, kl=0.0, grad_norm=0.0)
    updates = 0
    for _ in range(cfg.ppo.epochs):
        for m_start in range(0, len(rollouts), mini):
            idx = list(range(m_start, min(m_start + mini, len(rollouts))))
            n_tokens = float(sum(rollouts[i].n_gen for i in idx)) or 1.0
            optimizer.zero_grad(set_to_none=True)
            for u_start in range(0, len(idx), mb):
                part = idx[u_start:u_start + mb]
                seqs = pack([rollouts[i] for i in part], pad_id, device)
                logp, entropy = whole_logits(model, seqs, cfg.generation.temperature)
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
    return {"loss": totals["loss"] / max(updates, 1), "entropy": totals["entropy"] / tokens,
            "clip_frac": (totals["clipped_low"] + totals["clipped_high"]) / tokens,
            "approx_kl": totals["kl"] / tokens, "grad_norm": totals["grad_norm"] / max(updates, 1)}


class CountForwards:
    """Wraps update.forward_logprobs: how many ran without a graph (the old log-probs' forward)."""

    def __init__(self, monkeypatch):
        self.no_grad = self.grad = 0
        real = hbpo.update.forward_logprobs

        def forward(model, seqs, temperature):
            if torch.is_grad_enabled():
                self.grad += 1
            else:
                self.no_grad += 1
            return real(model, seqs, temperature)

        monkeypatch.setattr(hbpo.update, "forward_logprobs", forward)


def run_update(cfg, model, rollouts, advantages, *, reference=False, **kw):
    """One ppo_update (or the pre-issue-15 reference) on a copy of `model`: (metrics, weights)."""
    model = copy.deepcopy(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.optim.lr,
                                  betas=tuple(cfg.optim.betas), weight_decay=cfg.optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    update = old_ppo_update if reference else ppo_update
    metrics = update(model, optimizer, scheduler, rollouts, advantages, cfg, 0, CPU, **kw)
    return metrics, {n: p.detach().clone() for n, p in model.named_parameters()}


def max_diff(a: dict, b: dict) -> float:
    return max(float((a[n] - b[n]).abs().max()) for n in a)


ADVANTAGES = [1.0, -0.5, 0.25, -1.0, 0.75, -0.25, 0.5, -0.75]  # 2 queries x 4 rollouts


def test_one_optimizer_step_skips_the_old_forward_without_changing_the_update(write_config, monkeypatch):
    cfg, model, _ = setup(write_config, optim__lr=1e-2)
    assert cfg.ppo.epochs == 1 and cfg.ppo.mini_batch_queries is None
    rollouts = make_rollouts(8, 320, seed=11)
    count = CountForwards(monkeypatch)
    skipped, w_skipped = run_update(cfg, model, rollouts, ADVANTAGES)
    assert (count.no_grad, count.grad) == (0, 3)  # 8 rollouts in micro-batches of 3
    forced, w_forced = run_update(cfg, model, rollouts, ADVANTAGES, _force_old_forward=True)
    assert (count.no_grad, count.grad) == (3, 6)
    assert max_diff(w_skipped, w_forced) <= 1e-6
    for key in ("loss", "entropy", "clip_frac", "approx_kl", "grad_norm", "optimizer_steps"):
        assert skipped[key] == pytest.approx(forced[key], abs=1e-6), key
    assert skipped["approx_kl"] == 0 and skipped["clip_frac"] == 0  # ratio exactly 1
    reference, w_reference = run_update(cfg, model, rollouts, ADVANTAGES, reference=True)
    assert max_diff(w_skipped, w_reference) <= 1e-5
    for key in reference:
        assert skipped[key] == pytest.approx(reference[key], abs=1e-5), key


@pytest.mark.parametrize("overrides", [{"ppo__epochs": 2}, {"ppo__mini_batch_queries": 1},
                                       {"model__lora": {"r": 4, "alpha": 8, "dropout": 0.1,
                                                        "target_modules": ["q_proj", "v_proj"]}}])
def test_several_optimizer_steps_or_dropout_keep_the_old_forward(write_config, monkeypatch, overrides):
    cfg, model, _ = setup(write_config, optim__lr=1e-2, **overrides)
    rollouts = make_rollouts(8, 320, seed=12)
    count = CountForwards(monkeypatch)
    dropout = "model__lora" in overrides
    if dropout:
        torch.manual_seed(0)
    metrics, weights = run_update(cfg, model, rollouts, ADVANTAGES)
    assert count.no_grad == 3  # the old log-probs' forward ran, once per micro-batch
    if dropout:  # random masks: only the forward count is comparable
        return
    assert metrics["optimizer_steps"] == 2
    reference, w_reference = run_update(cfg, model, rollouts, ADVANTAGES, reference=True)
    assert max_diff(weights, w_reference) <= 1e-5
    assert metrics["clip_frac"] > 0 or metrics["approx_kl"] != 0  # the second step sees ratio != 1
    for key in reference:
        assert metrics[key] == pytest.approx(reference[key], abs=1e-5), key
