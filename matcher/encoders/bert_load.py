"""Loading a BERT sentence encoder from a sentence-transformers folder: config, tokenizer, pooling, weights.

Every missing, incomplete or corrupt file is an :class:`~matcher.errors.EncoderError` naming it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EncoderError
from .bert import ACTIVATIONS, BertEncoder
from .weights import read_weights

def _read_json(path: Path, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise EncoderError(f"{path}: {what} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EncoderError(f"{path}: cannot read {what} ({exc})") from None


def _check_config(cfg: Any, path: Path) -> dict[str, Any]:
    if not isinstance(cfg, dict):
        raise EncoderError(f"{path}: model config must be a JSON object")
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size", "max_position_embeddings"):
        v = cfg.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise EncoderError(f"{path}: model config needs a positive integer {key!r}")
    if cfg["hidden_size"] % cfg["num_attention_heads"]:
        raise EncoderError(f"{path}: hidden_size is not a multiple of num_attention_heads")
    mt = cfg.get("model_type", "bert")
    if mt != "bert":
        raise EncoderError(f"{path}: model_type {mt!r} is not supported (only BERT)")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise EncoderError(f"{path}: position_embedding_type {cfg['position_embedding_type']!r} is not supported")
    if cfg.get("hidden_act", "gelu") not in ACTIVATIONS:
        raise EncoderError(f"{path}: hidden_act {cfg['hidden_act']!r} is not supported ({', '.join(ACTIVATIONS)})")
    eps = cfg.get("layer_norm_eps", 1e-12)
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not 0 < eps < 1:
        raise EncoderError(f"{path}: layer_norm_eps must be a small positive number")
    return cfg


def _expected_shapes(cfg: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    H, I = cfg["hidden_size"], cfg["intermediate_size"]
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (cfg["vocab_size"], H),
        "embeddings.position_embeddings.weight": (cfg["max_position_embeddings"], H),
        "embeddings.token_type_embeddings.weight": (cfg.get("type_vocab_size", 2), H),
        "embeddings.LayerNorm.weight": (H,),
        "embeddings.LayerNorm.bias": (H,),
    }
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for m in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            shapes[p + m + ".weight"] = (H, H)
            shapes[p + m + ".bias"] = (H,)
        for m in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes[p + m + ".weight"] = (H,)
            shapes[p + m + ".bias"] = (H,)
        shapes[p + "intermediate.dense.weight"] = (I, H)
        shapes[p + "intermediate.dense.bias"] = (I,)
        shapes[p + "output.dense.weight"] = (H, I)
        shapes[p + "output.dense.bias"] = (H,)
    return shapes


def _canonical_names(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Accept the common naming variants: a ``bert.`` prefix and LayerNorm gamma/beta."""
    out = {}
    for k, v in tensors.items():
        if k.startswith("bert."):
            k = k[5:]
        if ".LayerNorm.gamma" in k or ".LayerNorm.beta" in k:
            k = k.replace(".LayerNorm.gamma", ".LayerNorm.weight").replace(".LayerNorm.beta", ".LayerNorm.bias")
        out[k] = v
    return out


def load_bert(
    *,
    weights: str | os.PathLike,
    config: str | os.PathLike,
    tokenizer: str | os.PathLike,
    pooling: str | os.PathLike | None = None,
    modules: str | os.PathLike | None = None,
    sentence_config: str | os.PathLike | None = None,
    name: str,
    expected_sha256: str | None = None,
) -> BertEncoder:
    """Load a BERT sentence encoder from explicitly named files.

    Parameters
    ----------
    weights : path
        safetensors file (float32, float16 or bfloat16 tensors).
    config : path
        Hugging Face ``config.json``.
    tokenizer : path
        ``tokenizer.json`` of the ``tokenizers`` library.
    pooling : path, optional
        sentence-transformers Pooling config; default mean pooling.
    modules : path, optional
        sentence-transformers ``modules.json``; tells whether a Normalize module is present.
    sentence_config : path, optional
        ``sentence_bert_config.json``, for ``max_seq_length``; default
        ``min(512, max_position_embeddings)``.
    name : str
        The encoder's ``name``.
    expected_sha256 : str, optional
        Refuse the weights unless their sha256 is this.

    Raises
    ------
    EncoderError
        Any missing, unreadable, corrupt or incompatible file, named in the message.
    """
    config_p, weights_p, tok_p = Path(config), Path(weights), Path(tokenizer)
    cfg = _check_config(_read_json(config_p, "model config"), config_p)

    pool_mode = "mean"
    if pooling is not None:
        pp = Path(pooling)
        pc = _read_json(pp, "pooling config")
        if not isinstance(pc, dict):
            raise EncoderError(f"{pp}: pooling config must be a JSON object")
        modes = [k for k in ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken")
                 if pc.get("pooling_mode_" + k)]
        if pc.get("pooling_mode") in ("mean", "cls"):  # newer sentence-transformers spelling
            modes = [{"mean": "mean_tokens", "cls": "cls_token"}[pc["pooling_mode"]]]
        if modes == ["mean_tokens"]:
            pool_mode = "mean"
        elif modes == ["cls_token"]:
            pool_mode = "cls"
        else:
            raise EncoderError(f"{pp}: pooling {modes or 'none'} is not supported (only mean or cls)")
        dim = pc.get("word_embedding_dimension", cfg["hidden_size"])
        if dim != cfg["hidden_size"]:
            raise EncoderError(f"{pp}: word_embedding_dimension {dim} does not match hidden_size {cfg['hidden_size']}")

    normalizes = False
    if modules is not None:
        mp = Path(modules)
        mods = _read_json(mp, "modules list")
        if not isinstance(mods, list) or not all(isinstance(m, dict) and isinstance(m.get("type"), str) for m in mods):
            raise EncoderError(f"{mp}: modules list must be a JSON list of objects with a 'type'")
        kinds = [m["type"].rsplit(".", 1)[-1] for m in mods]
        unsupported = [k for k in kinds if k not in ("Transformer", "Pooling", "Normalize")]
        if unsupported:
            raise EncoderError(f"{mp}: module(s) {', '.join(unsupported)} not supported (only Transformer, Pooling, Normalize)")
        normalizes = "Normalize" in kinds

    max_len = min(512, cfg["max_position_embeddings"])
    if sentence_config is not None:
        sp = Path(sentence_config)
        sc = _read_json(sp, "sentence-transformers config")
        m = sc.get("max_seq_length") if isinstance(sc, dict) else None
        if m is not None:
            if not isinstance(m, int) or isinstance(m, bool) or m < 2:
                raise EncoderError(f"{sp}: max_seq_length must be an integer of at least 2")
            max_len = min(m, cfg["max_position_embeddings"])

    if not tok_p.is_file():
        raise EncoderError(f"{tok_p}: tokenizer file is missing")
    from tokenizers import Tokenizer  # lazy: keeps the CLI's start-up fast

    try:
        tok = Tokenizer.from_file(str(tok_p))
    except Exception as exc:  # tokenizers raises plain Exception subclasses
        raise EncoderError(f"{tok_p}: cannot load tokenizer ({exc})") from None
    vocab_n = tok.get_vocab_size(with_added_tokens=True)
    if vocab_n > cfg["vocab_size"]:
        raise EncoderError(f"{tok_p}: tokenizer has {vocab_n} tokens but the model's vocab_size is {cfg['vocab_size']}")

    raw, _meta, digest = read_weights(weights_p, expected_sha256)
    tensors = _canonical_names(raw)
    for key, shape in _expected_shapes(cfg).items():
        t = tensors.get(key)
        if t is None:
            raise EncoderError(f"{weights_p}: tensor {key!r} is missing")
        if tuple(t.shape) != shape:
            raise EncoderError(f"{weights_p}: tensor {key!r} has shape {tuple(t.shape)}, config says {shape}")
        if t.dtype.kind != "f":
            raise EncoderError(f"{weights_p}: tensor {key!r} has dtype {t.dtype}, not floating point")
    return BertEncoder(
        name=name,
        sha256=digest,
        config=cfg,
        tensors=tensors,
        tokenizer=tok,
        max_seq_length=max_len,
        pooling=pool_mode,
        model_normalizes=normalizes,
        weights_name=str(weights_p),
    )


def load_bert_folder(folder: str | os.PathLike, name: str | None = None) -> BertEncoder:
    """Load a sentence-transformers BERT folder.

    The folder holds ``config.json``, ``model.safetensors``, ``tokenizer.json``
    and optionally ``1_Pooling/config.json``, ``modules.json`` and
    ``sentence_bert_config.json``.
    """
    root = Path(folder)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise EncoderError(f"{root}: encoder folder {what} (expected a sentence-transformers model folder)")
    for req in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (root / req).is_file():
            raise EncoderError(f"{root / req}: required file is missing from the encoder folder")

    def opt(rel: str) -> Path | None:
        p = root / rel
        return p if p.exists() else None

    return load_bert(
        weights=root / "model.safetensors",
        config=root / "config.json",
        tokenizer=root / "tokenizer.json",
        pooling=opt("1_Pooling/config.json"),
        modules=opt("modules.json"),
        sentence_config=opt("sentence_bert_config.json"),
        name=name if name is not None else str(root.resolve()),
    )
