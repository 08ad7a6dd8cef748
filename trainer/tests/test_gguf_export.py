"""`python -m hbpo export-gguf`: tiny Llama / Qwen2 folders to GGUF, read back with gguf.GGUFReader.

Besides names, shapes and metadata, a numpy forward pass that follows llama.cpp's semantics (rope on
adjacent pairs for `llama`, NeoX halves for `qwen2`, GQA, tied output) is run on the GGUF tensors and
compared with the PyTorch model's logits: that checks the Q/K permutation end to end, without llama.cpp.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch

from conftest import hbpo_cmd

gguf = pytest.importorskip("gguf")

from hbpo.cli import main  # noqa: E402
from hbpo.config import TinyModelConfig  # noqa: E402
from hbpo.gguf_export import permute, unpermute  # noqa: E402

TINY = TinyModelConfig(hidden_size=32, layers=2, heads=4, kv_heads=2, intermediate_size=48,
                       vocab_size=320, max_position_embeddings=256)


@pytest.fixture(scope="module")
def tokenizer():
    from hbpo.tiny import build_tokenizer

    return build_tokenizer(TINY.vocab_size)


def _save_tiny(arch: str, tokenizer, folder):
    from hbpo.tiny import build_tiny_model

    torch.set_num_threads(1)
    model = build_tiny_model(arch, TINY, tokenizer, seed=3)
    with torch.no_grad():  # larger than the default init, so that rope and attention matter
        gen = torch.Generator().manual_seed(5)
        for p in model.parameters():
            if p.ndim == 2:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
            else:  # norms and biases
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model.eval()


@pytest.fixture(scope="module")
def llama(tokenizer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama") / "model"
    return _save_tiny("llama", tokenizer, folder), folder


@pytest.fixture(scope="module")
def qwen2(tokenizer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("qwen2") / "model"
    return _save_tiny("qwen2", tokenizer, folder), folder


def export(source, out, *extra) -> int:
    return main(["export-gguf", str(source), "--out", str(out), *extra])


def fields(reader) -> dict:
    return {k: f.contents() for k, f in reader.fields.items()}


def reference_logits(reader, ids: list[int]) -> np.ndarray:
    """Logits computed from the GGUF file the way llama.cpp computes them (float64)."""
    meta = fields(reader)
    arch = meta["general.architecture"]
    T = {t.name: np.array(t.data, dtype=np.float64) for t in reader.tensors}
    nh, nkv = meta[f"{arch}.attention.head_count"], meta[f"{arch}.attention.head_count_kv"]
    eps, base = meta[f"{arch}.attention.layer_norm_rms_epsilon"], meta[f"{arch}.rope.freq_base"]
    neox = arch == "qwen2"  # llama.cpp: LLAMA_ROPE_TYPE_NORM for llama, NEOX for qwen2
    n = len(ids)

    def rms(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

    def rope(x):  # (n, heads, hd)
        hd = x.shape[-1]
        ang = np.arange(n)[:, None] * base ** (-np.arange(0, hd, 2) / hd)
        cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        if neox:
            a, b = x[..., :hd // 2], x[..., hd // 2:]
            return np.concatenate([a * cos - b * sin, a * sin + b * cos], -1)
        out = np.empty_like(x)
        a, b = x[..., 0::2], x[..., 1::2]
        out[..., 0::2], out[..., 1::2] = a * cos - b * sin, a * sin + b * cos
        return out

    def lin(x, name):
        y = x @ T[f"{name}.weight"].T
        return y + T[f"{name}.bias"] if f"{name}.bias" in T else y

    x = T["token_embd.weight"][ids]
    for i in range(meta[f"{arch}.block_count"]):
        h = rms(x, T[f"blk.{i}.attn_norm.weight"])
        q = rope(lin(h, f"blk.{i}.attn_q").reshape(n, nh, -1))
        k = np.repeat(rope(lin(h, f"blk.{i}.attn_k").reshape(n, nkv, -1)), nh // nkv, axis=1)
        v = np.repeat(lin(h, f"blk.{i}.attn_v").reshape(n, nkv, -1), nh // nkv, axis=1)
        s = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(q.shape[-1])
        s = np.where(np.tril(np.ones((n, n), bool)), s, -np.inf)
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        x = x + lin(np.einsum("hqk,khd->qhd", p, v).reshape(n, -1), f"blk.{i}.attn_output")
        h = rms(x, T[f"blk.{i}.ffn_norm.weight"])
        g = lin(h, f"blk.{i}.ffn_gate")
        x = x + lin(g / (1 + np.exp(-g)) * lin(h, f"blk.{i}.ffn_up"), f"blk.{i}.ffn_down")
    x = rms(x, T["output_norm.weight"])
    return x @ T.get("output.weight", T["token_embd.weight"]).T


def torch_logits(model, ids: list[int]) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].double().numpy()


def test_llama_export_reads_back(llama, tokenizer, tmp_path):
    model, folder = llama
    out = tmp_path / "tiny.gguf"
    assert export(folder, out) == 0
    reader = gguf.GGUFReader(str(out))
    meta = fields(reader)
    assert meta["general.architecture"] == "llama"
    assert meta["general.file_type"] == gguf.LlamaFileType.ALL_F32
    expected = {"llama.context_length": 256, "llama.embedding_length": 32, "llama.block_count": 2,
                "llama.feed_forward_length": 48, "llama.attention.head_count": 4,
                "llama.attention.head_count_kv": 2, "llama.rope.dimension_count": 8,
                "llama.vocab_size": len(tokenizer), "tokenizer.ggml.model": "gpt2",
                "tokenizer.ggml.pre": "gpt-2", "tokenizer.ggml.bos_token_id": tokenizer.bos_token_id,
                "tokenizer.ggml.eos_token_id": tokenizer.eos_token_id,
                "tokenizer.ggml.padding_token_id": tokenizer.pad_token_id,
                "tokenizer.ggml.add_bos_token": False, "tokenizer.ggml.add_eos_token": False,
                "tokenizer.chat_template": tokenizer.chat_template}
    assert {k: meta[k] for k in expected} == expected
    assert meta["llama.rope.freq_base"] == pytest.approx(model.config.rope_parameters["rope_theta"])
    assert meta["llama.attention.layer_norm_rms_epsilon"] == pytest.approx(model.config.rms_norm_eps)

    # tokenizer: every token string and type, and the merges, as the HF tokenizer has them
    assert meta["tokenizer.ggml.tokens"] == tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    types = meta["tokenizer.ggml.token_type"]
    for i, added in tokenizer.added_tokens_decoder.items():
        assert types[i] == (gguf.TokenType.CONTROL if added.special else gguf.TokenType.USER_DEFINED)
    assert types.count(gguf.TokenType.NORMAL) == len(tokenizer) - len(tokenizer.added_tokens_decoder)
    spec = json.loads((folder / "tokenizer.json").read_text())
    assert meta["tokenizer.ggml.merges"] == [" ".join(m) for m in spec["model"]["merges"]]
    assert len(meta["tokenizer.ggml.merges"]) > 50

    # tensors: every one present, right shape, values equal (Q/K after un-permuting); tied output
    hf = {k: v.float().numpy() for k, v in model.state_dict().items()}
    names = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight"}
    for i in range(2):
        for gg, h in [("attn_norm", "input_layernorm"), ("ffn_norm", "post_attention_layernorm"),
                      ("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj"),
                      ("attn_v", "self_attn.v_proj"), ("attn_output", "self_attn.o_proj"),
                      ("ffn_gate", "mlp.gate_proj"), ("ffn_up", "mlp.up_proj"), ("ffn_down", "mlp.down_proj")]:
            names[f"blk.{i}.{gg}.weight"] = f"model.layers.{i}.{h}.weight"
    tensors = {t.name: t for t in reader.tensors}
    assert set(tensors) == set(names)  # no `output`: tied embeddings
    for gname, hname in names.items():
        t = tensors[gname]
        data = np.array(t.data)
        assert data.shape == hf[hname].shape, gname
        assert list(t.shape) == list(reversed(hf[hname].shape)), gname  # GGUF order: ne0 first
        assert t.tensor_type == gguf.GGMLQuantizationType.F32
        if ".attn_q." in gname or ".attn_k." in gname:
            heads = 4 if ".attn_q." in gname else 2
            assert not np.array_equal(data, hf[hname])
            np.testing.assert_array_equal(unpermute(data, heads), hf[hname])
        else:
            np.testing.assert_array_equal(data, hf[hname])

    # the file computes what the PyTorch model computes, with llama.cpp's rope convention
    ids = tokenizer("<think>Let me compute 12 + 7 step by step.</think> \\boxed{19}").input_ids
    assert len(ids) > 8
    np.testing.assert_allclose(reference_logits(reader, ids), torch_logits(model, ids), atol=2e-4, rtol=1e-4)


def test_permute_round_trips():
    rng = np.random.default_rng(0)
    for rows, heads in [(32, 4), (16, 2), (8, 1)]:
        w = rng.standard_normal((rows, 12))
        np.testing.assert_array_equal(unpermute(permute(w, heads), heads), w)
        b = rng.standard_normal(rows)
        np.testing.assert_array_equal(unpermute(permute(b, heads), heads), b)
    # per head: the two halves interleave (HF [a0 a1 | b0 b1] -> llama.cpp [a0 b0 a1 b1])
    assert permute(np.arange(8.0), 2).tolist() == [0, 2, 1, 3, 4, 6, 5, 7]


def test_qwen2_export_with_biases_and_f16(qwen2, tokenizer, tmp_path):
    model, folder = qwen2
    out = tmp_path / "qwen2.gguf"
    assert export(folder, out) == 0
    reader = gguf.GGUFReader(str(out))
    meta = fields(reader)
    assert meta["general.architecture"] == "qwen2"
    assert meta["qwen2.attention.head_count_kv"] == 2
    tensors = {t.name: np.array(t.data) for t in reader.tensors}
    hf = {k: v.float().numpy() for k, v in model.state_dict().items()}
    for i in range(2):
        for proj in "qkv":  # qwen2 is NeoX rope in llama.cpp: nothing permuted
            np.testing.assert_array_equal(tensors[f"blk.{i}.attn_{proj}.bias"], hf[f"model.layers.{i}.self_attn.{proj}_proj.bias"])
            np.testing.assert_array_equal(tensors[f"blk.{i}.attn_{proj}.weight"], hf[f"model.layers.{i}.self_attn.{proj}_proj.weight"])
    ids = tokenizer("What is 3 * 4? <|assistant|>\n12").input_ids
    np.testing.assert_allclose(reference_logits(reader, ids), torch_logits(model, ids), atol=2e-4, rtol=1e-4)

    out16 = tmp_path / "qwen2-f16.gguf"
    assert export(folder, out16, "--dtype", "f16") == 0
    reader16 = gguf.GGUFReader(str(out16))
    assert fields(reader16)["general.file_type"] == gguf.LlamaFileType.MOSTLY_F16
    kinds = {t.name: t.tensor_type for t in reader16.tensors}
    assert kinds["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.F16
    assert kinds["blk.0.attn_q.bias"] == kinds["output_norm.weight"] == gguf.GGMLQuantizationType.F32
    np.testing.assert_allclose(reference_logits(reader16, ids), torch_logits(model, ids), atol=5e-2)


def test_checkpoint_folder_default_out_and_force(llama, tmp_path, capsys):
    _, folder = llama
    ckpt = tmp_path / "checkpoints" / "step-000002"
    shutil.copytree(folder, ckpt / "model")
    (ckpt / "config.yaml").write_text("method: hbpo\n")
    assert main(["export-gguf", str(ckpt)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["path"] == str(ckpt / "model.gguf") and summary["architecture"] == "llama"
    first = (ckpt / "model.gguf").read_bytes()

    assert main(["export-gguf", str(ckpt)]) == 2  # exists: refused, untouched
    assert str(ckpt / "model.gguf") in capsys.readouterr().err
    assert (ckpt / "model.gguf").read_bytes() == first
    assert main(["export-gguf", str(ckpt), "--force", "--dtype", "f16"]) == 0
    assert len((ckpt / "model.gguf").read_bytes()) < len(first)
    assert not [p for p in ckpt.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_bad_inputs_refused(llama, tmp_path, capsys):
    _, folder = llama
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export(empty, tmp_path / "x.gguf") == 2
    assert str(empty / "config.json") in capsys.readouterr().err

    other = tmp_path / "gpt2"
    shutil.copytree(folder, other)
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**cfg, "architectures": ["GPT2LMHeadModel"]}))
    assert export(other, tmp_path / "x.gguf") == 2
    err = capsys.readouterr().err
    assert "architectures" in err and "GPT2LMHeadModel" in err

    (other / "config.json").write_text(json.dumps({**cfg, "rope_parameters": {"rope_type": "llama3", "rope_theta": 1e4}}))
    assert export(other, tmp_path / "x.gguf") == 2
    assert "rope" in capsys.readouterr().err

    (other / "config.json").write_text(json.dumps(cfg))
    spec = json.loads((other / "tokenizer.json").read_text())
    spec["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True},
                                                                   spec["pre_tokenizer"]]}
    (other / "tokenizer.json").write_text(json.dumps(spec))
    assert export(other, tmp_path / "x.gguf") == 2
    assert "pre_tokenizer" in capsys.readouterr().err

    assert export(tmp_path / "missing", tmp_path / "x.gguf") == 2
    assert not (tmp_path / "x.gguf").exists()

    # the real command line: exit code 2 and the message on stderr
    r = subprocess.run(hbpo_cmd("export-gguf", str(empty)), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "config.json" in r.stderr and not r.stdout


NODE_SCRIPT = """
const [lib, modelPath, text, idsJson, n] = process.argv.slice(2);
const { getLlama } = await import(lib);
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
const model = await llama.loadModel({ modelPath });
const ctx = await model.createContext({ contextSize: 256, threads: 1, batchSize: 64 });
const out = [];
for await (const t of ctx.getSequence().evaluate(JSON.parse(idsJson), { temperature: 0 })) {
  out.push(t);
  if (out.length >= Number(n)) break;
}
console.log(JSON.stringify({ greedy: out, tokens: Array.from(model.tokenize(text, true)) }));
await ctx.dispose(); await model.dispose(); await llama.dispose();
"""


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_node_llama_cpp_greedy_matches_pytorch(arch, request, tokenizer, tmp_path):
    """Optional: llama.cpp (node-llama-cpp, CPU, one thread) tokenizes like HF and greedy-decodes
    the same tokens as PyTorch. Skipped where node or node-llama-cpp is not installed."""
    from conftest import REPO

    lib = REPO / "node_modules" / "node-llama-cpp" / "dist" / "index.js"
    node = shutil.which("node")
    if node is None or not lib.is_file():
        pytest.skip("node-llama-cpp is not installed (npm install)")
    model, folder = request.getfixturevalue(arch)
    out = tmp_path / f"{arch}.gguf"
    assert export(folder, out) == 0
    script = tmp_path / "greedy.mjs"
    script.write_text(NODE_SCRIPT)
    text = "<|user|>\nLet me compute 12 + 7 step by step.<think>x</think> \\boxed{19}"
    prompt = [tokenizer.bos_token_id, *tokenizer(text).input_ids]
    r = subprocess.run([node, str(script), lib.as_uri(), str(out), text, json.dumps(prompt), "12"],
                       capture_output=True, text=True, timeout=120)
    if "NoBinaryFoundError" in r.stderr:
        pytest.skip("node-llama-cpp has no working binary on this machine")
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["tokens"] == tokenizer(text).input_ids
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(12):
            ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
    assert got["greedy"] == ids[len(prompt):]


# ------------------------------------------------------------------------- the testbed base model

GREEDY_SCRIPT = "test/gguf/greedy.mjs"  # relative to the repository root
NEW_TOKENS = 48


@pytest.fixture(scope="module")
def testbed_greedy(tmp_path_factory):
    """The cached testbed base model (built once, minutes, where absent) loaded as the trainer loads it,
    exported to an f32 GGUF, and greedy-decoded from the same prompt token ids by PyTorch (the
    trainer's own rollout generation, one prompt per batch: no padding) and by node-llama-cpp
    (test/gguf/greedy.mjs). Prompts: three real testbed problems built as the trainer builds them, in
    natural, tier and efficiency mode, and one plain text off the training distribution."""
    from conftest import REPO
    from hbpo.config import GenerationConfig, ModelConfig, PromptConfig
    from hbpo.model import load_policy
    from hbpo.prompts import build_prompt
    from hbpo.rollout import generate
    from hbpo.testbed.problems import generate as testbed_problems

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: llama.cpp (node-llama-cpp) cannot be run to compare with PyTorch")
    torch.set_num_threads(1)
    model, tok = load_policy(ModelConfig(path="testbed:base"), torch.device("cpu"), torch.float32, seed=0)
    model.eval()
    out = tmp_path_factory.mktemp("testbed") / "testbed-base.gguf"
    assert main(["export-gguf", "testbed:base", "--out", str(out)]) == 0  # f32, the default

    hard, medium, easy = testbed_problems("test", 3, difficulties=["hard", "medium", "easy"])
    texts = [build_prompt(tok, hard.problem, "natural", PromptConfig()),
             build_prompt(tok, medium.problem, 64, PromptConfig()),
             build_prompt(tok, easy.problem, "efficiency", PromptConfig()),
             "Let a = 5 + 3, b = a * 2. What is b?"]
    prompts, responses = [], []
    for text in texts:
        [(prompt_ids, response)], _ = generate(model, tok, [text], max_new_tokens=NEW_TOKENS,
                                              gen=GenerationConfig(batch_size=1), greedy=True)
        prompts.append(prompt_ids)
        responses.append(response)
    request = {"model": str(out), "prompts": prompts, "maxTokens": NEW_TOKENS, "texts": texts}
    r = subprocess.run([node, str(REPO / GREEDY_SCRIPT)], input=json.dumps(request), capture_output=True,
                       text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, f"{GREEDY_SCRIPT} failed (is node-llama-cpp installed? npm install):\n{r.stderr[-2000:]}"
    reply = json.loads(r.stdout.strip().splitlines()[-1])
    problems = [(hard.problem, "natural"), (medium.problem, "tier:64"), (easy.problem, "efficiency")]
    return {"model": model, "tok": tok, "texts": texts, "prompts": prompts, "torch": responses, "gguf": out,
            "problems": problems, "node": node, **reply}


def _divergence(model, prompt: list[int], ours: list[int], theirs: list[int]) -> str:
    """Where two greedy continuations part, with PyTorch's logits of both picks there (a near-tie or not)."""
    k = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
    with torch.no_grad():
        logits = model(torch.tensor([prompt + ours[:k]])).logits[0, -1]
    picks = [(name, seq[k]) for name, seq in (("pytorch", ours), ("llama.cpp", theirs)) if k < len(seq)]
    shown = ", ".join(f"{name} {t} (logit {logits[t].item():.5f})" for name, t in picks)
    return f"first difference at new token {k}: {shown}"


def test_testbed_gguf_greedy_decodes_the_same_tokens_in_llama_cpp(testbed_greedy):
    """llama.cpp on the exported f32 GGUF picks exactly PyTorch's tokens, 48 per prompt or up to EOS."""
    g = testbed_greedy
    eos = g["tok"].eos_token_id
    for prompt, ours, theirs in zip(g["prompts"], g["torch"], g["greedy"]):
        assert theirs == ours, _divergence(g["model"], prompt, ours, theirs)
        assert len(ours) == NEW_TOKENS or ours[-1] == eos
    # real comparisons, not a token or two: the testbed answers in 20-80 tokens
    assert all(len(r) >= 16 for r in g["torch"]) and max(len(r) for r in g["torch"]) == NEW_TOKENS
    assert sum(r[-1] == eos for r in g["torch"]) >= 2  # and both stop at the same EOS


def test_testbed_gguf_tokenizes_prompts_like_hugging_face(testbed_greedy):
    """Separately from decoding: llama.cpp's tokenizer (special tokens parsed, no BOS added) gives the
    ids the trainer's tokenizer gives, for the chat-template prompts and for plain text."""
    g = testbed_greedy
    assert g["tokens"] == g["prompts"]
    assert g["prompts"][0][0] == g["tok"].bos_token_id  # the template's <s> is one token on both sides


def test_comparison_panel_path_generates_what_pytorch_does(testbed_greedy):
    """The comparison panel's path (its own prompt builder with the GGUF's chat template, the inference
    worker, temperature 0) writes the text PyTorch's greedy decoding of the trainer's prompt does."""
    from conftest import REPO

    g = testbed_greedy
    request = {"model": str(g["gguf"]), "maxTokens": NEW_TOKENS,
               "items": [{"problem": p, "mode": m} for p, m in g["problems"]]}
    r = subprocess.run([g["node"], "--import", "tsx", "test/gguf/panelGreedy.ts", json.dumps(request)],
                       capture_output=True, text=True, timeout=180, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    reply = json.loads(r.stdout.strip().splitlines()[-1])
    eos = g["tok"].eos_token_id
    # the same prompt tokens as the trainer's (its <s> from the template, once)
    assert reply["promptTokens"] == [len(p) for p in g["prompts"][:3]]
    for i, theirs in enumerate(reply["texts"]):
        ours = g["torch"][i]
        assert theirs == g["tok"].decode(ours, skip_special_tokens=True), (g["problems"][i], theirs)
        # llama.cpp does not count the EOS it stopped at; the trainer's n_gen does
        assert reply["tokens"][i] + (reply["stopReasons"][i] == "eos") == len(ours)
        assert (reply["stopReasons"][i] == "eos") == (ours[-1] == eos)
