"""Tests of matcher.encoders: the numpy BERT, the shipped MiniLM, the static encoder.

No test touches the network.  A tiny random BERT is built here (weights with
the safetensors package, a WordPiece tokenizer with the ``tokenizers``
library) and checked against a deliberately simple reference implementation.
"""
from __future__ import annotations

import importlib.util
import json
import math
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from matcher.encoders import (
    MINILM_DIR,
    MINILM_SHA256,
    MINILM_WEIGHTS,
    Encoder,
    clear_cache,
    load_encoder,
    load_minilm,
)
from matcher.encoders.weights import read_weights, write_weights
from matcher.encoders.bert import _softmax_, _softmax_stable_, gelu_
from matcher.errors import EncoderError, MatcherError

EXAMPLE = "This is an example sentence"
EXAMPLE_START = [0.0677, 0.0635, 0.0487, 0.0793]

# --------------------------------------------------------------------- tiny BERT
WORDS = (
    "the a an of to and in is are for with on at by from this that school schools student students "
    "teacher teachers food pantry meal meals hungry tutor tutoring math reading book books after "
    "before class classes help need needs offer offers free local family families child children "
    "garden music art sport sports bus library volunteer volunteers weekly winter coat coats "
    "example sentence"
).split()
PIECES = ["##s", "##ing", "##ed", "##er", "##ly"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, max_position_embeddings=64)

TEXTS = [
    "Hungry students need a food pantry",
    "free tutoring in math after school",
    "",
    "the library offers books",
    "volunteers",
    "Families with children need winter coats and weekly meals from the local food pantry after school",
    "Unknownword zzz qq teacher!",
    "music art sports garden",
]


def _tokenizer(vocab: dict[str, int]):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return tok


def make_tiny_bert(folder: Path, *, seed: int = 0, pooling: str = "mean", dtype=np.float32,
                   max_seq_length: int | None = None, scale: float = 0.3) -> dict[str, np.ndarray]:
    """Write a random tiny sentence-transformers BERT folder; return its (float64) weights."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab_list = SPECIAL + WORDS + PIECES + list("abcdefghijklmnopqrstuvwxyz!?.,")
    vocab = {t: i for i, t in enumerate(dict.fromkeys(vocab_list))}
    V, H, I = len(vocab), TINY["hidden_size"], TINY["intermediate_size"]
    rng = np.random.default_rng(seed)

    def r(*shape, s=scale):
        return (rng.standard_normal(shape) * s).astype(dtype)

    w: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": r(V, H, s=1.0),
        "embeddings.position_embeddings.weight": r(TINY["max_position_embeddings"], H),
        "embeddings.token_type_embeddings.weight": r(2, H),
        "embeddings.LayerNorm.weight": (1 + r(H, s=0.1)).astype(dtype),
        "embeddings.LayerNorm.bias": r(H, s=0.1),
    }
    for i in range(TINY["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for m in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            w[p + m + ".weight"] = r(H, H)
            w[p + m + ".bias"] = r(H, s=0.1)
        w[p + "attention.output.LayerNorm.weight"] = (1 + r(H, s=0.1)).astype(dtype)
        w[p + "attention.output.LayerNorm.bias"] = r(H, s=0.1)
        w[p + "intermediate.dense.weight"] = r(I, H)
        w[p + "intermediate.dense.bias"] = r(I, s=0.1)
        w[p + "output.dense.weight"] = r(H, I)
        w[p + "output.dense.bias"] = r(H, s=0.1)
        w[p + "output.LayerNorm.weight"] = (1 + r(H, s=0.1)).astype(dtype)
        w[p + "output.LayerNorm.bias"] = r(H, s=0.1)
    w["pooler.dense.weight"] = r(H, H)  # present in real checkpoints, unused
    w["pooler.dense.bias"] = r(H)
    write_weights(folder / "model.safetensors", w, {"format": "pt"})
    cfg = dict(TINY, vocab_size=V, type_vocab_size=2, layer_norm_eps=1e-12, hidden_act="gelu",
               model_type="bert", position_embedding_type="absolute", pad_token_id=0)
    (folder / "config.json").write_text(json.dumps(cfg))
    _tokenizer(vocab).save(str(folder / "tokenizer.json"))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": H,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }))
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]))
    if max_seq_length is not None:
        (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_seq_length}))
    return {k: v.astype(np.float64) for k, v in w.items()}


def reference_encode(w: dict[str, np.ndarray], ids: list[int], pooling: str = "mean") -> np.ndarray:
    """BERT forward pass written plainly: loops over tokens and heads, math.erf, float64."""
    H, nh, nl = TINY["hidden_size"], TINY["num_attention_heads"], TINY["num_hidden_layers"]
    hd = H // nh
    eps = 1e-12

    def layer_norm(v, g, b):
        mu = sum(v) / len(v)
        var = sum((x - mu) ** 2 for x in v) / len(v)
        return np.array([(x - mu) / math.sqrt(var + eps) for x in v]) * g + b

    def gelu(v):
        return np.array([0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0))) for x in v])

    def linear(v, name):
        return w[name + ".weight"] @ v + w[name + ".bias"]

    hs = [
        layer_norm(
            w["embeddings.word_embeddings.weight"][t]
            + w["embeddings.position_embeddings.weight"][pos]
            + w["embeddings.token_type_embeddings.weight"][0],
            w["embeddings.LayerNorm.weight"],
            w["embeddings.LayerNorm.bias"],
        )
        for pos, t in enumerate(ids)
    ]
    n = len(hs)
    for i in range(nl):
        p = f"encoder.layer.{i}."
        qs = [linear(h, p + "attention.self.query") for h in hs]
        ks = [linear(h, p + "attention.self.key") for h in hs]
        vs = [linear(h, p + "attention.self.value") for h in hs]
        new = []
        for a in range(n):
            ctx = np.zeros(H)
            for head in range(nh):
                sl = slice(head * hd, (head + 1) * hd)
                scores = [float(qs[a][sl] @ ks[b][sl]) / math.sqrt(hd) for b in range(n)]
                m = max(scores)
                exps = [math.exp(s - m) for s in scores]
                tot = sum(exps)
                for b in range(n):
                    ctx[sl] += exps[b] / tot * vs[b][sl]
            attn = layer_norm(linear(ctx, p + "attention.output.dense") + hs[a],
                              w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
            ff = linear(gelu(linear(attn, p + "intermediate.dense")), p + "output.dense")
            new.append(layer_norm(ff + attn, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]))
        hs = new
    pooled = hs[0] if pooling == "cls" else sum(hs) / n
    return pooled / np.linalg.norm(pooled)


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def tiny(tmp_path):
    folder = tmp_path / "tiny"
    weights = make_tiny_bert(folder)
    return folder, weights


# ------------------------------------------------------------------ weights files
def test_weights_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    tensors = {
        "a": rng.standard_normal((3, 4)).astype(np.float32),
        "b": rng.standard_normal(5).astype(np.float16),
        "c": np.arange(6, dtype=np.int64).reshape(2, 3),
    }
    digest = write_weights(tmp_path / "x.safetensors", tensors, {"k": "v"})
    back, meta, digest2 = read_weights(tmp_path / "x.safetensors", expected_sha256=digest)
    assert digest == digest2 and meta == {"k": "v"}
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)


@pytest.mark.parametrize("mutate", [lambda b: b[:5], lambda b: (10**12).to_bytes(8, "little") + b[8:],
                                    lambda b: b[:8] + b"[" + b[9:], lambda b: b[:-3]])
def test_corrupt_weights_file_is_an_error_naming_it(tmp_path, mutate):
    p = tmp_path / "x.safetensors"
    write_weights(p, {"w": np.ones((2, 3), np.float32), "v": np.ones(4, np.float32)})
    p.write_bytes(mutate(p.read_bytes()))
    with pytest.raises(EncoderError, match="not a valid safetensors file") as err:
        read_weights(p)
    assert str(p) in str(err.value)


def test_gelu_matches_erf():
    x = np.linspace(-12, 12, 200_001).astype(np.float32)
    x = np.concatenate([x, np.array([0.0, -0.0, 1e-30, -1e-30, 50.0, -50.0, 1e4, -1e4], np.float32)])
    ref = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64)])
    y = x.copy()
    gelu_(y, np.empty_like(y), np.empty_like(y), np.empty_like(y))
    assert np.all(np.isfinite(y))
    assert np.abs(y - ref).max() < 1e-5 * np.maximum(1.0, np.abs(ref)).max()
    assert np.abs(y[:200_001] - ref[:200_001]).max() < 1e-6


def test_softmax_paths_agree():
    rng = np.random.default_rng(2)
    ones = np.ones(7, np.float32)
    for shift in (0.0, 100.0, -200.0):
        s = (rng.standard_normal((2, 3, 5, 7)) * 3 + shift).astype(np.float32)
        s[0, :, :, 5:] = -1e30  # padding
        want = s.astype(np.float64)
        want = np.exp(want - want.max(-1, keepdims=True))
        want /= want.sum(-1, keepdims=True)
        got = s.copy()
        if not _softmax_(got, ones):  # fast path gave up: caller recomputes
            assert shift < 0
            got = s.copy()
            _softmax_stable_(got)
        np.testing.assert_allclose(got, want, atol=1e-6)


# -------------------------------------------------------------------- tiny BERT
def test_tiny_bert_matches_reference(tiny):
    folder, w = tiny
    enc = load_encoder(str(folder))
    assert isinstance(enc, Encoder)
    assert enc.name == str(folder.resolve()) and enc.dim == 32 and len(enc.sha256) == 64
    ids = enc.tokenize(TEXTS)
    assert min(map(len, ids)) == 2 and max(map(len, ids)) > 15  # varied lengths, incl. the empty text
    want = np.stack([reference_encode(w, x) for x in ids])
    batched = enc.encode(TEXTS, batch_size=4)
    assert batched.dtype == np.float32 and batched.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(batched, want, atol=1e-5)
    one_by_one = np.stack([enc.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(one_by_one, want, atol=1e-5)
    for kw in ({"workers": 1}, {"workers": 2}, {"workers": 3, "batch_size": 1}, {"batch_size": 100}):
        np.testing.assert_allclose(enc.encode(TEXTS, **kw), want, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-6)


def test_tiny_bert_cls_pooling_fp16_and_truncation(tmp_path):
    folder = tmp_path / "cls"
    w = make_tiny_bert(folder, seed=3, pooling="cls", dtype=np.float16, max_seq_length=8)
    enc = load_encoder(str(folder))
    assert enc.pooling == "cls" and enc.max_seq_length == 8
    ids = enc.tokenize(TEXTS)
    assert max(map(len, ids)) == 8
    assert all(x[-1] == ids[0][-1] for x in ids)  # [SEP] kept when truncating
    want = np.stack([reference_encode(w, x, pooling="cls") for x in ids])
    np.testing.assert_allclose(enc.encode(TEXTS, batch_size=3), want, atol=1e-5)


def test_cache_and_input_checks(tiny):
    folder, _ = tiny
    enc = load_encoder(str(folder))
    assert load_encoder(str(folder) + "/") is enc  # same resolved folder, same object
    assert enc.encode([]).shape == (0, 32)
    with pytest.raises(TypeError):
        enc.encode("a single string")
    with pytest.raises(TypeError):
        enc.encode(["ok", 3])


def test_concurrent_encodes_restore_blas_threads(tiny):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import threading

    folder, _ = tiny
    enc = load_encoder(str(folder))
    want = enc.encode(TEXTS, workers=1)

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    results, errors = [], []

    def run():
        try:
            for _ in range(20):
                results.append(enc.encode(TEXTS, batch_size=2))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 60
    for r in results:
        np.testing.assert_allclose(r, want, atol=1e-5)
    assert blas_threads() == before


def _flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x41
    path.write_bytes(bytes(raw))


def test_tiny_bert_corrupt_folder_refused(tmp_path):
    cases = {
        "no tokenizer": lambda f: (f / "tokenizer.json").unlink(),
        "no config": lambda f: (f / "config.json").unlink(),
        "no weights": lambda f: (f / "model.safetensors").unlink(),
        "bad header": lambda f: _flip(f / "model.safetensors", 20),
        "truncated": lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:-100]),
        "wrong shape": lambda f: (f / "config.json").write_text(
            (f / "config.json").read_text().replace('"intermediate_size": 64', '"intermediate_size": 65')),
        "bad tokenizer": lambda f: (f / "tokenizer.json").write_text("{not json"),
        "bad pooling": lambda f: (f / "1_Pooling" / "config.json").write_text(
            json.dumps({"pooling_mode_max_tokens": True})),
    }
    named = {
        "no tokenizer": "tokenizer.json", "no config": "config.json", "no weights": "model.safetensors",
        "bad header": "model.safetensors", "truncated": "model.safetensors", "wrong shape": "model.safetensors",
        "bad tokenizer": "tokenizer.json", "bad pooling": "config.json",
    }
    for case, damage in cases.items():
        folder = tmp_path / case.replace(" ", "_")
        make_tiny_bert(folder)
        damage(folder)
        with pytest.raises(EncoderError) as err:
            load_encoder(str(folder))
        assert named[case] in str(err.value), (case, str(err.value))
        assert isinstance(err.value, MatcherError)
    with pytest.raises(EncoderError, match="no such encoder folder"):
        load_encoder(str(tmp_path / "nowhere"))


# ------------------------------------------------------------------ shipped model
def test_shipped_minilm_known_embedding():
    enc = load_encoder("minilm")
    assert enc is load_encoder()  # default spec, cached
    assert enc.name == "minilm" and enc.dim == 384 and enc.sha256 == MINILM_SHA256
    v = enc.encode([EXAMPLE])
    assert v.dtype == np.float32 and v.shape == (1, 384)
    np.testing.assert_allclose(v[0, :4], EXAMPLE_START, atol=1e-3)
    texts = [EXAMPLE, "", "Hungry students need a food pantry", "free math tutoring after school " * 60]
    batch = enc.encode(texts)
    assert np.all(np.isfinite(batch))
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    for i, t in enumerate(texts):
        np.testing.assert_allclose(batch[i], enc.encode([t])[0], atol=1e-5)
    assert max(map(len, enc.tokenize(texts))) == 256  # max_seq_length


def test_shipped_package_files():
    for name in (MINILM_WEIGHTS, "config.json", "tokenizer.json", "pooling_config.json", "modules.json",
                 "sentence_bert_config.json", "NOTICE", "LICENSE"):
        assert (MINILM_DIR / name).is_file(), name
    notice = (MINILM_DIR / "NOTICE").read_text()
    assert "all-MiniLM-L6-v2" in notice and "Apache" in notice and "float16" in notice
    lic = (MINILM_DIR / "LICENSE").read_text()
    assert "Apache License" in lic and "END OF TERMS AND CONDITIONS" in lic
    tensors, _, _ = read_weights(MINILM_DIR / MINILM_WEIGHTS)
    assert tensors["embeddings.word_embeddings.weight"].dtype == np.float16


@pytest.fixture
def minilm_copy(tmp_path):
    dest = tmp_path / "minilm"
    shutil.copytree(MINILM_DIR, dest)
    return dest


def test_shipped_weights_tampered_refused(minilm_copy):
    w = minilm_copy / MINILM_WEIGHTS
    _flip(w, w.stat().st_size // 2)  # a data byte: the format is still valid
    with pytest.raises(EncoderError, match="sha256 mismatch") as err:
        load_minilm(minilm_copy)
    assert str(w) in str(err.value) and "reinstall matcher" in str(err.value)


def test_shipped_weights_truncated_refused(minilm_copy):
    w = minilm_copy / MINILM_WEIGHTS
    w.write_bytes(w.read_bytes()[:1000])
    with pytest.raises(EncoderError, match="sha256 mismatch"):
        load_minilm(minilm_copy)


def test_shipped_folder_missing_tokenizer_refused(minilm_copy):
    (minilm_copy / "tokenizer.json").unlink()
    with pytest.raises(EncoderError, match="tokenizer.json"):
        load_minilm(minilm_copy)


def test_convert_writes_loadable_fp16(tmp_path):
    from matcher.encoders.bert_load import load_bert
    from matcher.encoders.convert import convert

    src = tmp_path / "src"
    make_tiny_bert(src, max_seq_length=32)
    with pytest.raises(EncoderError, match="sha256 mismatch"):  # not the upstream file
        convert(src, tmp_path / "out")
    digest = convert(src, tmp_path / "out", check_upstream=False)
    assert digest == convert(src, tmp_path / "out2", check_upstream=False)  # deterministic
    out = tmp_path / "out"
    tensors, meta, _ = read_weights(out / "model.fp16.safetensors")
    assert all(t.dtype == np.float16 for t in tensors.values())
    assert "float16" in meta["converted"]
    enc16 = load_bert(weights=out / "model.fp16.safetensors", config=out / "config.json",
                      tokenizer=out / "tokenizer.json", pooling=out / "pooling_config.json",
                      modules=out / "modules.json", sentence_config=out / "sentence_bert_config.json",
                      name="tiny16", expected_sha256=digest)
    enc32 = load_encoder(str(src))
    a, b = enc16.encode(TEXTS), enc32.encode(TEXTS)
    assert np.abs(a - b).max() < 5e-3


# -------------------------------------------------------------------- no network
def test_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    enc = load_encoder()
    v = enc.encode([EXAMPLE, "food pantry volunteers"])
    np.testing.assert_allclose(v[0, :4], EXAMPLE_START, atol=1e-3)
    if importlib.util.find_spec("wordllama") is not None:
        assert load_encoder("static").encode(["food pantry"]).shape == (1, 256)


# ---------------------------------------------------------------------- static
needs_wordllama = pytest.mark.skipif(
    importlib.util.find_spec("wordllama") is None,
    reason="optional extra not installed: pip install 'matcher[static]' (wordllama)",
)


@needs_wordllama
def test_static_encoder():
    enc = load_encoder("static")
    assert enc.name == "static" and enc.dim == 256 and len(enc.sha256) == 64
    texts = ["hungry students", "food pantry", "the stock market fell sharply today", ""]
    v = enc.encode(texts)
    assert v.dtype == np.float32 and v.shape == (4, 256)
    np.testing.assert_allclose(np.linalg.norm(v[:3], axis=1), 1.0, atol=1e-5)
    assert np.all(v[3] == 0)  # no tokens: zero row, not NaN
    assert v[0] @ v[1] > v[0] @ v[2]
    np.testing.assert_allclose(enc.encode(texts, batch_size=1), v, atol=1e-6)


def test_static_without_wordllama(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wordllama" else real(name, *a))
    with pytest.raises(EncoderError, match=r"pip install 'matcher\[static\]'"):
        load_encoder("static")
