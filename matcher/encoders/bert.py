"""A BERT sentence encoder in numpy (float32, CPU, no torch).

Runs sentence-transformers models of the BERT family (such as
all-MiniLM-L6-v2): WordPiece tokenization with the ``tokenizers`` library,
the transformer forward pass in numpy, mean or CLS pooling, L2 normalisation.

Speed notes (measured on the project's 2-core machine; see
``scripts/bench_encoder.py``):

* texts are tokenized once, sorted by token length and batched with their
  neighbours, so padding is small; rows are put back in input order;
* Q, K and V are one matmul (weights concatenated at load, the attention scale
  folded into Q); heads are a reshape, not a loop;
* everything but attention is row-wise, so after attention each layer does
  output projection, residual, LayerNorm, feed-forward, residual, LayerNorm
  and the next layer's QKV in one pass over row chunks (preallocated
  buffers reused across a worker's batches);
* GELU is the exact erf form, computed in place with the Abramowitz & Stegun
  7.1.26 erf (absolute error < 1.5e-7 in erf, < 4e-7 in GELU over [-12, 12];
  see ``gelu_``) instead of ``scipy.special.erf``, which is ~30x slower;
* softmax skips the per-row max (slow in numpy) when the block's max shows exp
  cannot overflow, and falls back to it otherwise (see ``_softmax_``);
* the texts are split over one worker thread per CPU, each with its BLAS
  pinned to one thread (threadpoolctl).  That beat one thread driving a
  2-thread BLAS by ~1.5x in batch (the element-wise work then also runs on
  both cores), and a multi-threaded BLAS collapses when the machine is busy
  (spinning threads wait for a descheduled peer: 10x slower, and a p95 of
  ~120 ms instead of ~10 ms for one query).  A single text runs on the
  calling thread with a 1-thread BLAS for the same reason.
"""
from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import EncoderError
from ..blas import cpu_count, one_blas_thread

__all__ = ["ACTIVATIONS", "BertEncoder", "gelu_", "DEFAULT_BATCH_SIZE"]

#: Default most texts per forward batch.  Measured with ~40-word texts (CPU
#: time per text, one worker): 16 to 32 within 3% of each other, 48 and 64
#: 3-8% slower (more padding, bigger working set).
DEFAULT_BATCH_SIZE = 32

#: Most worker threads ``encode`` starts by default (one per CPU up to this).
MAX_WORKERS = 8

#: Rows processed at a time by the row-wise part of a layer.  Measured: 256 to
#: 384 rows beat 64 to 128 by ~5-10% (larger matmuls), and equal doing the
#: whole batch at once, with (rows x intermediate) scratch buffers of ~2 MB.
_FFN_ROWS = 384

#: At most this many float32 attention scores are held at once per worker.
_SCORES_BUDGET = 1 << 20

_NEG = np.float32(-1e30)

# Abramowitz & Stegun 7.1.26, with GELU's factor 1/2 folded in.
_AS_P = 0.3275911 / math.sqrt(2.0)
_AS_A = tuple(0.5 * a for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429))


def gelu_(x: np.ndarray, t: np.ndarray, acc: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU of float32 ``x``, in place; ``t``, ``acc``, ``e`` are scratch of x's shape.

    ``gelu(x) = x/2 (1 + erf(x/sqrt2)) = relu(x) - |x|/2 P(t) exp(-x^2/2)``
    with ``t = 1/(1 + p|x|/sqrt2)`` and ``P`` the A&S 7.1.26 polynomial, so the
    error is below ``|x| * 1e-7``.
    """
    a1, a2, a3, a4, a5 = _AS_A
    np.abs(x, out=t)
    np.multiply(x, x, out=e)
    e *= -0.5
    np.exp(e, out=e)
    e *= t  # |x| exp(-x^2/2)
    t *= _AS_P
    t += 1.0
    np.reciprocal(t, out=t)
    np.multiply(t, a5, out=acc)
    acc += a4
    acc *= t
    acc += a3
    acc *= t
    acc += a2
    acc *= t
    acc += a1
    acc *= t
    acc *= e
    np.maximum(x, 0.0, out=x)
    x -= acc
    return x


def _gelu_tanh_(x: np.ndarray, t: np.ndarray, acc: np.ndarray, e: np.ndarray) -> np.ndarray:
    """The tanh approximation of GELU (``gelu_new``), in place."""
    np.multiply(x, x, out=t)
    t *= 0.044715
    t += 1.0
    t *= x
    t *= math.sqrt(2.0 / math.pi)
    np.tanh(t, out=t)
    t += 1.0
    t *= 0.5
    x *= t
    return x


def _relu_(x: np.ndarray, t: np.ndarray, acc: np.ndarray, e: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


ACTIVATIONS = {
    "gelu": gelu_,
    "gelu_new": _gelu_tanh_,
    "gelu_pytorch_tanh": _gelu_tanh_,
    "relu": _relu_,
}


def _layer_norm_(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float, tmp: np.ndarray, ones: np.ndarray) -> None:
    """LayerNorm over the last axis of 2-D ``x``, in place (means by matrix-vector products)."""
    mu = x @ ones
    x -= mu[:, None]
    np.multiply(x, x, out=tmp)
    var = tmp @ ones
    var += eps
    np.sqrt(var, out=var)
    np.reciprocal(var, out=var)
    x *= var[:, None]
    x *= g
    x += b


class _Workspace:
    """Scratch buffers for one worker, grown on demand and reused across its batches."""

    def __init__(self) -> None:
        self._bufs: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        size = 1
        for d in shape:
            size *= d
        buf = self._bufs.get(name)
        if buf is None or buf.size < size:
            buf = np.empty(size, dtype=np.float32)
            self._bufs[name] = buf
        return buf[:size].reshape(shape)


class _Layer:
    __slots__ = ("wqkv", "bqkv", "wo", "bo", "ln1_g", "ln1_b", "w1", "b1", "w2", "b2", "ln2_g", "ln2_b")


class BertEncoder:
    """A loaded BERT sentence encoder; build it with :func:`load_bert` or :func:`load_bert_folder`.

    Attributes
    ----------
    name : str
        What it was loaded as ("minilm", or the resolved folder path).
    dim : int
        Embedding size.
    sha256 : str
        Hex sha256 of the weights file as stored.
    max_seq_length : int
        Longer texts are truncated to this many tokens (special tokens included).
    pooling : {"mean", "cls"}
    model_normalizes : bool
        Whether the model's own pipeline ends in a Normalize module.  The
        output of :meth:`encode` is L2-normalised either way.
    """

    def __init__(
        self,
        *,
        name: str,
        sha256: str,
        config: dict[str, Any],
        tensors: dict[str, np.ndarray],
        tokenizer: Any,
        max_seq_length: int,
        pooling: str,
        model_normalizes: bool,
        weights_name: str,
    ) -> None:
        self.name = name
        self.sha256 = sha256
        self.pooling = pooling
        self.model_normalizes = model_normalizes
        self.max_seq_length = max_seq_length
        H = int(config["hidden_size"])
        nh = int(config["num_attention_heads"])
        self.dim = H
        self.hidden = H
        self.heads = nh
        self.head_dim = H // nh
        self.intermediate = int(config["intermediate_size"])
        self.num_layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self._act = ACTIVATIONS[config.get("hidden_act", "gelu")]
        self._ones = np.full(H, 1.0 / H, dtype=np.float32)

        f32 = np.float32

        def get(key: str) -> np.ndarray:
            return tensors[key]

        def f(key: str) -> np.ndarray:
            return np.ascontiguousarray(get(key), dtype=f32)

        # The word-embedding table stays in its stored dtype (float16 for the
        # shipped model); looked-up rows are upcast, which gives the same
        # float32 values as upcasting the table, at half the memory.
        word = get("embeddings.word_embeddings.weight")
        self._word = word if word.dtype in (np.float16, np.float32) else word.astype(f32)
        self._pos_type = f("embeddings.position_embeddings.weight") + f("embeddings.token_type_embeddings.weight")[0]
        self._emb_g = f("embeddings.LayerNorm.weight")
        self._emb_b = f("embeddings.LayerNorm.bias")
        scale = 1.0 / math.sqrt(self.head_dim)
        self._layers: list[_Layer] = []
        for i in range(self.num_layers):
            p = f"encoder.layer.{i}."
            L = _Layer()
            wq = f(p + "attention.self.query.weight") * f32(scale)
            bq = f(p + "attention.self.query.bias") * f32(scale)
            L.wqkv = np.ascontiguousarray(
                np.concatenate([wq, f(p + "attention.self.key.weight"), f(p + "attention.self.value.weight")]).T
            )
            L.bqkv = np.concatenate([bq, f(p + "attention.self.key.bias"), f(p + "attention.self.value.bias")])
            L.wo = np.ascontiguousarray(f(p + "attention.output.dense.weight").T)
            L.bo = f(p + "attention.output.dense.bias")
            L.ln1_g = f(p + "attention.output.LayerNorm.weight")
            L.ln1_b = f(p + "attention.output.LayerNorm.bias")
            L.w1 = np.ascontiguousarray(f(p + "intermediate.dense.weight").T)
            L.b1 = f(p + "intermediate.dense.bias")
            L.w2 = np.ascontiguousarray(f(p + "output.dense.weight").T)
            L.b2 = f(p + "output.dense.bias")
            L.ln2_g = f(p + "output.LayerNorm.weight")
            L.ln2_b = f(p + "output.LayerNorm.bias")
            for arr in (L.wqkv, L.bqkv, L.wo, L.bo, L.w1, L.b1, L.w2, L.b2):
                if not np.isfinite(arr).all():
                    raise EncoderError(f"{weights_name}: layer {i} has non-finite weights (corrupt file)")
            self._layers.append(L)
        if not (np.isfinite(self._pos_type).all() and np.isfinite(self._word).all()):
            raise EncoderError(f"{weights_name}: embeddings have non-finite values (corrupt file)")

        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_seq_length)
        self._tokenizer = tokenizer

    def __repr__(self) -> str:
        return f"<BertEncoder {self.name!r} dim={self.dim} layers={self.num_layers}>"

    # ------------------------------------------------------------------ API
    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, special tokens included, truncated to ``max_seq_length``."""
        return [e.ids for e in self._tokenizer.encode_batch(list(texts))]

    def encode(self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE, *, workers: int | None = None) -> np.ndarray:
        """Embed texts.

        Parameters
        ----------
        texts : sequence of str
        batch_size : int
            Most texts per forward pass (texts are sorted by token length first).
        workers : int, optional
            ``None`` (default): one worker thread per CPU (at most
            :data:`MAX_WORKERS`), each with a 1-thread BLAS, the texts split into
            at least that many batches; a single text runs on the calling
            thread with a 1-thread BLAS.  ``1``: everything on the calling
            thread with the BLAS's own threading.  ``k >= 2``: ``k`` workers.

        Returns
        -------
        numpy.ndarray
            float32 of shape ``(len(texts), dim)``, rows L2-normalised.
        """
        texts = check_texts(texts)
        n = len(texts)
        out = np.zeros((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if workers is not None and workers < 1:
            raise ValueError("workers must be at least 1")
        ids = self.tokenize(texts)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=n)
        order = np.argsort(lengths, kind="stable")
        want = min(n, cpu_count(), MAX_WORKERS) if workers is None else min(n, workers)
        nb = max(-(-n // batch_size), want)
        batches = np.array_split(order, nb)
        if want >= 2:
            self._run_parallel(batches, ids, out, want)
        else:
            ctx = one_blas_thread() if workers is None else contextlib.nullcontext()
            ws = _Workspace()
            with ctx:
                for idx in batches:
                    out[idx] = self._forward([ids[j] for j in idx], ws)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.maximum(norms, 1e-12, out=norms)
        out /= norms
        return out

    # ------------------------------------------------------------ internals
    def _run_parallel(self, batches: list[np.ndarray], ids: list[list[int]], out: np.ndarray, workers: int) -> None:
        todo = list(reversed(batches))  # longest first: better balance at the end
        lock = threading.Lock()
        errors: list[BaseException] = []

        def work() -> None:
            ws = _Workspace()
            while True:
                with lock:
                    if not todo or errors:
                        return
                    idx = todo.pop(0)
                try:
                    out[idx] = self._forward([ids[j] for j in idx], ws)
                except BaseException as exc:  # re-raised on the calling thread
                    with lock:
                        errors.append(exc)
                    return

        with one_blas_thread():
            threads = [threading.Thread(target=work, daemon=True) for _ in range(workers - 1)]
            for t in threads:
                t.start()
            work()
            for t in threads:
                t.join()
        if errors:
            raise errors[0]

    def _forward(self, seqs: list[list[int]], ws: _Workspace) -> np.ndarray:
        """Pooled (not yet normalised) embeddings of one batch of token-id lists.

        Everything but attention is row-wise, so each layer is: attention over
        whole sequences, then one pass over cache-sized row chunks doing output
        projection + residual + LayerNorm, feed-forward + residual + LayerNorm,
        and the next layer's QKV projection.
        """
        B = len(seqs)
        Lmax = max(len(s) for s in seqs)
        H, nh, hd, I = self.hidden, self.heads, self.head_dim, self.intermediate
        N = B * Lmax
        tok = np.zeros((B, Lmax), dtype=np.intp)
        mask = np.zeros((B, Lmax), dtype=np.float32)
        for r, s in enumerate(seqs):
            tok[r, : len(s)] = s
            mask[r, : len(s)] = 1.0
        padded = bool((mask == 0).any())
        addmask = ((1.0 - mask) * _NEG)[:, None, None, :] if padded else None
        eps, ones = self.eps, self._ones
        act = self._act
        layers = self._layers

        rows = min(_FFN_ROWS, N)
        x = ws.get("x", (N, H))
        qkv = ws.get("qkv", (N, 3 * H))
        ctx = ws.get("ctx", (N, H))
        ctx4 = ctx.reshape(B, Lmax, nh, hd)
        tmp = ws.get("tmp", (rows, H))
        tmp2 = ws.get("tmp2", (rows, H))
        h = ws.get("ffn", (rows, I))
        t1 = ws.get("t1", (rows, I))
        t2 = ws.get("t2", (rows, I))
        t3 = ws.get("t3", (rows, I))
        bchunk = max(1, min(B, _SCORES_BUDGET // (nh * Lmax * Lmax)))
        scores = ws.get("scores", (bchunk, nh, Lmax, Lmax))
        qbuf = ws.get("q", (bchunk, nh, Lmax, hd))
        kbuf = ws.get("kT", (bchunk, nh, hd, Lmax))
        vbuf = ws.get("v", (bchunk, nh, Lmax, hd))
        cbuf = ws.get("c", (bchunk, nh, Lmax, hd))
        ones_l = np.ones(Lmax, dtype=np.float32)

        # embeddings, LayerNorm and the first layer's QKV, by row chunks
        flat = tok.reshape(-1)
        x3 = x.reshape(B, Lmax, H)
        if self._word.dtype == np.float32:
            np.take(self._word, flat, axis=0, out=x)
        else:
            x[...] = self._word[flat]
        x3 += self._pos_type[:Lmax]
        for r0 in range(0, N, rows):
            r1 = min(N, r0 + rows)
            xr = x[r0:r1]
            _layer_norm_(xr, self._emb_g, self._emb_b, eps, tmp[: r1 - r0], ones)
            np.matmul(xr, layers[0].wqkv, out=qkv[r0:r1])
            qkv[r0:r1] += layers[0].bqkv

        for li, L in enumerate(layers):
            nxt = layers[li + 1] if li + 1 < len(layers) else None
            # --- self-attention over whole sequences (scale folded into Q)
            q5 = qkv.reshape(B, Lmax, 3, nh, hd)
            for b0 in range(0, B, bchunk):
                b1 = min(B, b0 + bchunk)
                nb = b1 - b0
                q, kT, v, sc, c = qbuf[:nb], kbuf[:nb], vbuf[:nb], scores[:nb], cbuf[:nb]
                q[...] = q5[b0:b1, :, 0].transpose(0, 2, 1, 3)
                kT[...] = q5[b0:b1, :, 1].transpose(0, 2, 3, 1)
                v[...] = q5[b0:b1, :, 2].transpose(0, 2, 1, 3)
                np.matmul(q, kT, out=sc)
                if addmask is not None:
                    sc += addmask[b0:b1]
                if not _softmax_(sc, ones_l):
                    np.matmul(q, kT, out=sc)
                    if addmask is not None:
                        sc += addmask[b0:b1]
                    _softmax_stable_(sc)
                np.matmul(sc, v, out=c)
                ctx4[b0:b1] = c.transpose(0, 2, 1, 3)
            # --- row-wise rest of the layer, in cache-sized chunks
            for r0 in range(0, N, rows):
                r1 = min(N, r0 + rows)
                n = r1 - r0
                xr, tr, tr2, hh = x[r0:r1], tmp[:n], tmp2[:n], h[:n]
                np.matmul(ctx[r0:r1], L.wo, out=tr)
                tr += L.bo
                xr += tr
                _layer_norm_(xr, L.ln1_g, L.ln1_b, eps, tr, ones)
                np.matmul(xr, L.w1, out=hh)
                hh += L.b1
                act(hh, t1[:n], t2[:n], t3[:n])
                np.matmul(hh, L.w2, out=tr)
                tr += L.b2
                xr += tr
                _layer_norm_(xr, L.ln2_g, L.ln2_b, eps, tr2, ones)
                if nxt is not None:
                    np.matmul(xr, nxt.wqkv, out=qkv[r0:r1])
                    qkv[r0:r1] += nxt.bqkv

        if self.pooling == "cls":
            return x3[:, 0, :].copy()
        pooled = np.matmul(mask[:, None, :], x3)[:, 0, :]
        pooled /= mask.sum(axis=1, keepdims=True)
        return pooled


def _softmax_(s: np.ndarray, ones_l: np.ndarray) -> bool:
    """Softmax over the last axis of 4-D float32 ``s``, in place; False if ``s`` must be recomputed.

    Softmax is shift-invariant; the usual per-row max subtraction only guards
    against exp overflow/underflow, and a per-row max over a short axis is slow
    in numpy.  So when the whole block's max is small enough that exp cannot
    overflow, exponentiate directly and take row sums with one matrix-vector
    product.  If the max is large, the per-row-max form is used.  If a row sum
    underflows (all of a row's scores below about -70), ``s`` has been
    overwritten: return False, and the caller recomputes the scores and calls
    :func:`_softmax_stable_`.
    """
    L = s.shape[-1]
    if not float(s.max()) < 60.0:
        _softmax_stable_(s)
        return True
    np.exp(s, out=s)
    sums = s.reshape(-1, L) @ ones_l
    if not float(sums.min()) > 1e-30:
        return False
    np.reciprocal(sums, out=sums)
    s *= sums.reshape(s.shape[:-1] + (1,))
    return True


def _softmax_stable_(s: np.ndarray) -> None:
    """Softmax over the last axis, in place, with per-row max subtraction."""
    s -= s.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    s *= np.reciprocal(s.sum(axis=-1, keepdims=True))


def check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError("encode() takes a sequence of texts, not a single string: wrap it in a list")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"encode(): text {i} is {type(t).__name__}, not str")
    return texts
