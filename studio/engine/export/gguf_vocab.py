"""The vocabulary part of a GGUF file: llama.cpp's "gpt2" byte-level BPE from a tokenizer.json.

Tokens with llama.cpp's token types, merges, special ids and whether BOS/EOS are added (read off
what the tokenizer really does), the chat template, and ``tokenizer.ggml.pre``, the name
llama.cpp picks its pre-tokenizer by: found as llama.cpp's converter finds it (a hash of how the
tokenizer splits a check text), else from the splitting ``tokenizer.json`` declares. Used by
``studio.engine.export.gguf``.
"""

from __future__ import annotations

import json
from hashlib import sha256
from pathlib import Path

import gguf

from studio.engine.errors import ExportError

# llama.cpp names a BPE pre-tokenizer by hashing how the tokenizer splits this text (the string
# and hashes come from its convert_hf_to_gguf.py), so a fine-tune of a known family gets the very
# name llama.cpp's own conversion of the base model carries.
_CHECK_TEXT = (
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis "
    "concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 "
    "កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български "
    "''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not "
    "sure I'll make it, 'D you like some tea? We'Ve a'lL"
)
_PRE_BY_HASH = {
    "855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249": "smollm",
    "e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea": "qwen2",
    "d4540891389ea895b53b399da6ac824becc30f2fba0e9ddbb98f92e55ca0e97c": "qwen2",
    "b3f499bb4255f8ca19fccd664443283318f2fd2414d5e0b040fbdd0cc195d6c5": "deepseek-r1-qwen",
    "0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5": "llama-bpe",
    "63b97e4253352e6f357cc59ea5b583e3a680eaeaf2632188c2b952de2588485e": "tekken",
    "3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454": "gpt-2",
}
# A vocabulary no hash knows (one trained here, say) is named by the splitting its
# tokenizer.json declares, where that is exactly one of llama.cpp's pre-tokenizers.
_QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+"
                r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}"
                 r"\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_PRE_BY_SHAPE = {
    ("bytelevel+regex",): "gpt-2",
    ("digits", "bytelevel+regex"): "smollm",
    ("split:" + _QWEN2_SPLIT, "bytelevel"): "qwen2",
    ("split:" + _LLAMA3_SPLIT, "bytelevel"): "llama-bpe",
}


def add_vocab(writer: gguf.GGUFWriter, model_dir: Path, vocab_size: int) -> None:
    from transformers import AutoTokenizer

    spec = _tokenizer_json(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    tokens, types = _token_list(tokenizer, vocab_size)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_pre_tokenizer(tokenizer, spec))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=vocab_size)
    if not special.merges:
        raise ExportError("gguf_no_merges", path=str(model_dir))
    # What the tokenizer really does to plain text, so llama.cpp adds the same BOS/EOS.
    plain, marked = tokenizer.encode("a", add_special_tokens=False), tokenizer.encode("a")
    special.add_special_token["bos"] = marked[:1] != plain[:1]
    special.add_special_token["eos"] = marked[-1:] != plain[-1:]
    if special.chat_template is None and tokenizer.chat_template:
        special.chat_template = tokenizer.chat_template
    special.add_to_gguf(writer, quiet=True)


def _tokenizer_json(model_dir: Path) -> dict:
    """tokenizer.json, checked to be the byte-level BPE llama.cpp's "gpt2" vocabulary is."""
    try:
        spec = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError("gguf_no_tokenizer", path=str(model_dir)) from None
    kind = (spec.get("model") or {}).get("type")
    pre = spec.get("pre_tokenizer") or {}
    if kind != "BPE" or "ByteLevel" not in json.dumps(pre):
        # Named as tokenizers names it (Unigram, WordPiece, BPE/Metaspace): a term, not prose.
        named = kind if kind != "BPE" else f"BPE/{pre.get('type')}"
        raise ExportError("gguf_tokenizer", kind=named)
    return spec


def _token_list(tokenizer, vocab_size: int) -> tuple[list[str], list[int]]:
    """Every id's token and llama.cpp token type; ids the tokenizer lacks become padding."""
    by_id = {i: token for token, i in tokenizer.get_vocab().items()}
    if max(by_id) >= vocab_size:
        raise ExportError("gguf_vocab", got=max(by_id) + 1, vocab=vocab_size)
    added = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for i in range(vocab_size):
        token = by_id.get(i)
        if token is None:
            token, kind = f"[PAD{i}]", gguf.TokenType.UNUSED
        elif i in added:
            special = added[i].special or (token.startswith("<|") and token.endswith("|>"))
            kind = gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED
        else:
            kind = gguf.TokenType.NORMAL
        tokens.append(token)
        types.append(kind)
    return tokens, types


def _pre_tokenizer(tokenizer, spec: dict) -> str:
    digest = sha256(str(tokenizer.encode(_CHECK_TEXT)).encode()).hexdigest()
    if digest in _PRE_BY_HASH:
        return _PRE_BY_HASH[digest]
    shape = _pre_shape(spec.get("pre_tokenizer") or {})
    if shape not in _PRE_BY_SHAPE:
        raise ExportError("gguf_pretokenizer", shape=" + ".join(shape) or "none")
    return _PRE_BY_SHAPE[shape]


def _pre_shape(pre: dict) -> tuple[str, ...]:
    """A tokenizers pre-tokenizer as the steps that decide how it splits text."""
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    shape = []
    for step in steps:
        kind = step.get("type")
        if kind == "ByteLevel" and not step.get("add_prefix_space"):
            shape.append("bytelevel+regex" if step.get("use_regex", True) else "bytelevel")
        elif kind == "Digits" and step.get("individual_digits"):
            shape.append("digits")
        elif kind == "Split" and step.get("behavior") == "Isolated" and not step.get("invert"):
            shape.append("split:" + str((step.get("pattern") or {}).get("Regex")))
        else:
            shape.append(str(kind))
    return tuple(shape)
