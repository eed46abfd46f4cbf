#!/usr/bin/env python3
"""Reference token ids for SmolLM2's GGUF tokenizer, written independently of hicra.

Reads tokens/merges/token types with the `gguf` package and tokenizes with a from-scratch
byte-level BPE that follows llama.cpp's algorithm for `tokenizer.ggml.pre = smollm`:
control tokens written in the text are matched first (longest first); the remaining text is
split by the regexes `\\p{N}` then GPT-2's pattern; each piece is mapped to the byte-level
alphabet and merged by rank. It also runs transformers' own GGUF conversion and reports
where the two disagree (transformers' converter omits SmolLM2's digit split).

Usage: python3 scripts/tokenizer_reference.py MODEL.gguf OUT.jsonl
Needs: pip install gguf regex transformers tokenizers sentencepiece protobuf (throwaway venv).
"""
import json
import os
import sys

import regex
from gguf import GGUFReader

GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

TEXTS = [
    "Hello, world!",
    "What is 15 + 27?",
    "The year 2024 had 366 days; pi ~ 3.14159.",
    "Costs: $1,234.56 vs 7%",
    " 42 leading space then digits 007",
    "héllo wörld, naïve café — déjà vu",
    "日本語のテキストと中文字符",
    "emoji 🙂🚀 and symbols ∑∫√ ≠ ≤",
    "tabs\tand\nnewlines\n\n\nand   runs    of     spaces  ",
    "   leading and trailing   ",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    "text<|im_end|>glued<|endoftext|>together",
    "def f(x):\n    return x ** 2  # square\n\nprint(f(12))",
    "fn main() { let v: Vec<u32> = (0..10).collect(); }",
    "It's I'm you're they've we'll he'd DON'T",
    "Let me think step by step. First, 3 * 4 = 12. But wait, let's verify: 12 / 4 = 3.",
    "\\boxed{49} and \\frac{1}{2}",
    "",
    " ",
    "a",
]


def bytes_to_unicode():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def field(reader, key):
    return reader.fields[key].contents()


class ReferenceBpe:
    def __init__(self, path):
        r = GGUFReader(path)
        self.tokens = field(r, "tokenizer.ggml.tokens")
        types = field(r, "tokenizer.ggml.token_type")
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        self.ranks = {tuple(m.split(" ")): i for i, m in enumerate(field(r, "tokenizer.ggml.merges"))}
        self.control = sorted((t for t, ty in zip(self.tokens, types) if ty == 3), key=len, reverse=True)
        self.byte_char = bytes_to_unicode()

    def bpe(self, piece):
        word = [self.byte_char[b] for b in piece.encode("utf-8")]
        while len(word) > 1:
            pairs = [(self.ranks.get((a, b), float("inf")), i) for i, (a, b) in enumerate(zip(word, word[1:]))]
            rank, i = min(pairs)
            if rank == float("inf"):
                break
            word = word[:i] + [word[i] + word[i + 1]] + word[i + 2:]
        return [self.ids[w] for w in word]

    def encode(self, text):
        ids, i, plain = [], 0, ""
        while i <= len(text):
            hit = next((c for c in self.control if text.startswith(c, i)), None) if i < len(text) else None
            if hit is None and i < len(text):
                plain += text[i]
                i += 1
                continue
            for part in regex.split(r"(\p{N})", plain):
                for piece in regex.findall(GPT2, part):
                    ids += self.bpe(piece)
            plain = ""
            if hit is None:
                break
            ids.append(self.ids[hit])
            i += len(hit)
        return ids


def main():
    model, out = sys.argv[1], sys.argv[2]
    ref = ReferenceBpe(model)
    try:
        from transformers import AutoTokenizer

        hf = AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(model)), gguf_file=os.path.basename(model))
    except Exception as e:  # transformers is only a cross-check
        print(f"transformers unavailable: {e}", file=sys.stderr)
        hf = None
    with open(out, "w", encoding="utf-8") as f:
        for text in TEXTS:
            ids = ref.encode(text)
            assert "".join(ref.tokens[i] for i in ids) == "".join(ref.byte_char[b] for b in text.encode()) or any(
                c in text for c in ref.control
            ), text
            if hf is not None:
                theirs = hf.encode(text, add_special_tokens=False)
                if theirs != ids:
                    print(f"transformers differs on {text!r}: {theirs} vs {ids}", file=sys.stderr)
            f.write(json.dumps({"text": text, "ids": ids}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
