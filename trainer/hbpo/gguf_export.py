"""Export a Hugging Face causal LM folder (a checkpoint's `model/`) to a GGUF file for llama.cpp.

    python -m hbpo export-gguf runs/<id>/checkpoints/step-000020 [--out FILE.gguf] [--dtype f32|f16]

Supported: `LlamaForCausalLM` (GGUF arch `llama`) and `Qwen2ForCausalLM` (arch `qwen2`, with the
q/k/v biases), full weights in safetensors (one file or an index of shards), a byte-level BPE
tokenizer (`tokenizer.json`). A LoRA checkpoint (adapter only) is refused: merge it first.

Conventions follow llama.cpp's `convert_hf_to_gguf.py`:

* tensor names `token_embd`, `blk.N.attn_norm`, `blk.N.attn_{q,k,v,output}`, `blk.N.ffn_norm`,
  `blk.N.ffn_{gate,up,down}`, `output_norm`, `output` (left out when the embeddings are tied:
  llama.cpp then reuses `token_embd`);
* for `llama` the Q and K projections (and their biases) are permuted per head from HF's
  "rotate halves" rope layout to llama.cpp's "adjacent pairs" layout (`permute` below; `qwen2`
  uses the NeoX rope in llama.cpp, i.e. HF's layout, so nothing is permuted);
* 1-D tensors (norms, biases) stay f32; `--dtype f16` stores the matrices as f16;
* the tokenizer is a `gpt2` BPE vocab: byte-level token strings, merges "a b", token types
  (NORMAL; CONTROL for special added tokens such as `<s>`; USER_DEFINED for the other added
  tokens, such as `<think>`, which HF matches in any text too), pre-tokenizer `gpt-2`, bos/eos/pad
  ids, add_bos/add_eos as the HF tokenizer behaves, and the chat template.

Bad input raises `ExportError` (the CLI exits with code 2), naming the path or field.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ARCHES = {"LlamaForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2"}
DTYPES = ("f32", "f16")


class ExportError(ValueError):
    """Bad input: nothing was written."""


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF rope layout (per head: first half, second half) -> llama.cpp (interleaved pairs).

    Same as `LlamaModel.permute` in convert_hf_to_gguf.py; `n_head` is the number of heads the
    rows of `w` make up (attention heads for Q, key/value heads for K). Works for biases too.
    """
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """The inverse of `permute`."""
    return (w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def resolve_source(spec: str) -> tuple[Path, str]:
    """(HF model folder, default output path) for `testbed:base`, a checkpoint, or an HF folder."""
    if spec == "testbed:base":
        from .testbed.build import ensure_testbed_model  # built once (minutes), then cached

        return ensure_testbed_model(), str(Path.cwd() / "testbed-base.gguf")
    path = Path(spec)
    if not path.is_dir():
        raise ExportError(f"source: {path} is not a folder (a checkpoint, an HF model folder or testbed:base)")
    if (path / "model").is_dir() and not (path / "config.json").is_file():  # a checkpoint folder
        return path / "model", str(path / "model.gguf")
    return path, str(path / "model.gguf")


@dataclass
class HParams:
    arch: str
    vocab_size: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    context: int
    rope_theta: float
    rms_eps: float
    tied: bool
    attention_bias: bool


def read_hparams(folder: Path) -> HParams:
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        if (folder / "adapter_config.json").is_file():
            raise ExportError(f"source: {folder} holds a LoRA adapter only (adapter_config.json, no config.json); "
                              "merge the adapter into its base model first")
        raise ExportError(f"source: {cfg_path} not found; is {folder} a Hugging Face model folder?")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(f"source: {cfg_path} is not readable JSON ({exc})") from None
    archs = cfg.get("architectures") or []
    if len(archs) != 1 or archs[0] not in ARCHES:
        raise ExportError(f"architectures: {cfg_path} says {archs}; export-gguf supports "
                          f"{', '.join(ARCHES)}")
    rope = cfg.get("rope_parameters") or {}
    scaling = cfg.get("rope_scaling") or rope
    if scaling.get("rope_type", scaling.get("type", "default")) != "default":
        raise ExportError(f"rope_parameters: {cfg_path}: rope type "
                          f"{scaling.get('rope_type', scaling.get('type'))!r} is not supported (default rope only)")
    if cfg.get("mlp_bias"):
        raise ExportError(f"mlp_bias: {cfg_path}: MLP biases are not supported")
    try:
        heads = cfg["num_attention_heads"]
        hidden = cfg["hidden_size"]
        return HParams(
            arch=ARCHES[archs[0]], vocab_size=cfg["vocab_size"], hidden=hidden, layers=cfg["num_hidden_layers"],
            heads=heads, kv_heads=cfg.get("num_key_value_heads") or heads,
            head_dim=cfg.get("head_dim") or hidden // heads, ffn=cfg["intermediate_size"],
            context=cfg.get("max_position_embeddings", 2048),
            rope_theta=float(rope.get("rope_theta", cfg.get("rope_theta", 10000.0))),
            rms_eps=float(cfg.get("rms_norm_eps", 1e-6)), tied=bool(cfg.get("tie_word_embeddings", False)),
            attention_bias=archs[0] == "Qwen2ForCausalLM" or bool(cfg.get("attention_bias")))
    except KeyError as exc:
        raise ExportError(f"{exc.args[0]}: missing from {cfg_path}") from None


def load_weights(folder: Path) -> dict[str, np.ndarray]:
    """All tensors of the folder's safetensors file(s), as float32 numpy arrays."""
    from safetensors import safe_open

    index = folder / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    elif (folder / "model.safetensors").is_file():
        files = ["model.safetensors"]
    else:
        raise ExportError(f"source: no model.safetensors (or index) in {folder}")
    out = {}
    for name in files:
        with safe_open(str(folder / name), framework="pt") as f:
            for key in f.keys():
                out[key] = f.get_tensor(key).float().numpy()
    return out


def gguf_tensors(hp: HParams, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """HF tensor names -> GGUF names (and the llama Q/K permutation). Every tensor is accounted for."""
    w = {k.removeprefix("model."): v for k, v in weights.items()}
    out = {"token_embd.weight": w.pop("embed_tokens.weight"), "output_norm.weight": w.pop("norm.weight")}
    lm_head = w.pop("lm_head.weight", None)
    if lm_head is not None and not (hp.tied and np.array_equal(lm_head, out["token_embd.weight"])):
        out["output.weight"] = lm_head
    names = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
             "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for i in range(hp.layers):
        for hf, gg in names.items():
            for kind in ("weight", "bias"):
                t = w.pop(f"layers.{i}.{hf}.{kind}", None)
                if t is None:
                    continue
                if hp.arch == "llama" and gg in ("attn_q", "attn_k"):
                    t = permute(t, hp.heads if gg == "attn_q" else hp.kv_heads)
                out[f"blk.{i}.{gg}.{kind}"] = t
    leftover = [k for k in w if "rotary_emb" not in k]
    if leftover:
        raise ExportError(f"weights: tensors with no GGUF name: {', '.join(sorted(leftover)[:5])}")
    return out


def tokenizer_metadata(folder: Path, vocab_size: int) -> dict:
    """The `gpt2` vocab as llama.cpp reads it, from the folder's HF tokenizer."""
    import gguf
    from transformers import PreTrainedTokenizerFast

    path = folder / "tokenizer.json"
    if not path.is_file():
        raise ExportError(f"tokenizer: {path} not found (a byte-level BPE tokenizer is needed)")
    # tokenizer.json as saved, not AutoTokenizer: for model_type qwen2 that picks Qwen2Tokenizer,
    # which brings its own pre-tokenizer and an extra <|endoftext|> token.
    tok = PreTrainedTokenizerFast.from_pretrained(folder)
    spec = json.loads(path.read_text(encoding="utf-8"))
    model = spec.get("model", {})
    pre = spec.get("pre_tokenizer") or {}
    if model.get("type") != "BPE":
        raise ExportError(f"tokenizer: {path}: model type {model.get('type')!r}, a byte-level BPE is needed")
    if pre.get("type") != "ByteLevel" or pre.get("use_regex") is False or pre.get("add_prefix_space"):
        # llama.cpp's `gpt-2` pre-tokenizer is exactly ByteLevel(add_prefix_space=False, use_regex=True)
        raise ExportError(f"tokenizer: {path}: pre_tokenizer {json.dumps(pre)[:120]} is not supported "
                          "(only GPT-2 byte-level: ByteLevel, use_regex, no prefix space)")
    vocab = tok.get_vocab()
    if max(vocab.values()) >= vocab_size:
        raise ExportError(f"vocab_size: the tokenizer has id {max(vocab.values())}, config.json vocab_size is {vocab_size}")
    by_id = {i: t for t, i in vocab.items()}
    added = tok.added_tokens_decoder  # id -> AddedToken
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif i in added:
            tokens.append(added[i].content)
            types.append(gguf.TokenType.CONTROL if added[i].special else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    probe = tok("a").input_ids
    cfg = {}
    if (folder / "tokenizer_config.json").is_file():
        cfg = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    return {
        "tokens": tokens, "types": types, "merges": merges,
        "bos": tok.bos_token_id, "eos": tok.eos_token_id, "pad": tok.pad_token_id,
        # as the tokenizer_config says, else as the HF tokenizer behaves on plain text
        "add_bos": bool(cfg.get("add_bos_token", tok.bos_token_id is not None and probe[:1] == [tok.bos_token_id])),
        "add_eos": bool(cfg.get("add_eos_token", tok.eos_token_id is not None and probe[-1:] == [tok.eos_token_id])),
        "chat_template": tok.chat_template if isinstance(tok.chat_template, str) else None,
    }


def export_gguf(source: Path, out: Path, *, dtype: str = "f32", force: bool = False, name: str | None = None) -> dict:
    """Write `source` (an HF model folder) to `out`; returns a summary. Raises ExportError."""
    import gguf

    if dtype not in DTYPES:
        raise ExportError(f"--dtype: {dtype!r} is not one of {', '.join(DTYPES)}")
    out = Path(out)
    if out.exists() and not force:
        raise ExportError(f"--out: {out} exists; pass --force to overwrite it")
    if not out.parent.is_dir():
        raise ExportError(f"--out: folder {out.parent} does not exist")
    hp = read_hparams(source)
    vocab = tokenizer_metadata(source, hp.vocab_size)
    tensors = gguf_tensors(hp, load_weights(source))

    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    w = gguf.GGUFWriter(str(tmp), hp.arch)
    try:
        w.add_name(name or source.resolve().name)
        w.add_file_type(gguf.LlamaFileType.ALL_F32 if dtype == "f32" else gguf.LlamaFileType.MOSTLY_F16)
        w.add_vocab_size(hp.vocab_size)
        w.add_context_length(hp.context)
        w.add_embedding_length(hp.hidden)
        w.add_block_count(hp.layers)
        w.add_feed_forward_length(hp.ffn)
        w.add_head_count(hp.heads)
        w.add_head_count_kv(hp.kv_heads)
        w.add_rope_freq_base(hp.rope_theta)
        w.add_layer_norm_rms_eps(hp.rms_eps)
        w.add_rope_dimension_count(hp.head_dim)
        if hp.head_dim * hp.heads != hp.hidden:
            w.add_key_length(hp.head_dim)
            w.add_value_length(hp.head_dim)

        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("gpt-2")
        w.add_token_list(vocab["tokens"])
        w.add_token_types(vocab["types"])
        w.add_token_merges(vocab["merges"])
        for key, add in (("bos", w.add_bos_token_id), ("eos", w.add_eos_token_id), ("pad", w.add_pad_token_id)):
            if vocab[key] is not None:
                add(vocab[key])
        w.add_add_bos_token(vocab["add_bos"])
        w.add_add_eos_token(vocab["add_eos"])
        if vocab["chat_template"]:
            w.add_chat_template(vocab["chat_template"])

        for tname, data in tensors.items():
            store = np.float16 if dtype == "f16" and data.ndim == 2 else np.float32
            w.add_tensor(tname, np.ascontiguousarray(data.astype(store)))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        os.replace(tmp, out)
    finally:
        w.close()
        tmp.unlink(missing_ok=True)
    return {"path": str(out), "source": str(source), "architecture": hp.arch, "dtype": dtype,
            "tensors": len(tensors), "vocab_size": hp.vocab_size, "bytes": out.stat().st_size}
