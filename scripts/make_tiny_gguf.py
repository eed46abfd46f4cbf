#!/usr/bin/env python3
"""Writes the tiny GGUF fixtures of hicra-pretrained's tests, with expected values computed by
the `gguf` Python package (llama.cpp's own reader/quantizer), independently of hicra.

- tiny_dequant.gguf: one 256-value tensor per supported storage type (F32, F16, BF16, Q8_0,
  Q4_0, Q4_1 quantized by gguf-py; Q4_K and Q6_K as random blocks with sane f16 scales, since
  gguf-py cannot quantize K-quants) and one metadata entry of every value type.
  tiny_dequant.expected.json: the metadata and gguf-py's dequantization of every tensor.
- tiny_llama.gguf: a complete 2-layer Llama (vocab 264, width 32, 4 query / 2 KV heads of 8)
  with a byte-level BPE tokenizer (256 byte tokens, a few merges, ChatML control tokens) and
  Q8_0/Q4_1/F16/F32 tensors. tiny_llama.expected.json: for every tensor (HF name) its shape,
  sum and first values after gguf-py's dequantization.

Usage: python3 scripts/make_tiny_gguf.py crates/hicra-pretrained/tests/fixtures
"""
import json
import sys

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFWriter, quants

rng = np.random.default_rng(7)
DIGITS = 9


def rounded(values):
    return [float(f"{v:.{DIGITS}g}") for v in np.asarray(values, dtype=np.float32).ravel()]


def random_k_blocks(qtype, n_blocks):
    """Random K-quant blocks whose f16 scales are small and finite."""
    block_bytes = {Q.Q4_K: 144, Q.Q6_K: 210}[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    scale = lambda: np.frombuffer(np.float16(rng.uniform(-0.05, 0.05)).tobytes(), np.uint8)
    for b in raw:
        if qtype == Q.Q4_K:
            b[0:2], b[2:4] = scale(), scale()
        else:
            b[208:210] = scale()
    return raw


def write_dequant(out):
    w = GGUFWriter(f"{out}/tiny_dequant.gguf", "dequant-cases")
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4_000_000_000)
    w.add_int32("t.i32", -2_000_000_000)
    w.add_float32("t.f32", 0.15625)
    w.add_bool("t.bool", True)
    w.add_string("t.string", "héllo")
    w.add_array("t.array_str", ["a", "bc", ""])
    w.add_array("t.array_int", [1, -2, 3])
    w.add_uint64("t.u64", 2**40 + 1)
    w.add_int64("t.i64", -(2**40))
    w.add_float64("t.f64", -2.5e-300)
    x = rng.standard_normal((1, 256)).astype(np.float32)
    cases = {
        "t.f32": (x, None),
        "t.f16": (x.astype(np.float16), None),
        "t.bf16": (quants.quantize(x, Q.BF16), Q.BF16),
        "t.q8_0": (quants.quantize(x, Q.Q8_0), Q.Q8_0),
        "t.q4_0": (quants.quantize(x, Q.Q4_0), Q.Q4_0),
        "t.q4_1": (quants.quantize(x, Q.Q4_1), Q.Q4_1),
        "t.q4_k": (random_k_blocks(Q.Q4_K, 1), Q.Q4_K),
        "t.q6_k": (random_k_blocks(Q.Q6_K, 1), Q.Q6_K),
    }
    for name, (data, qtype) in cases.items():
        w.add_tensor(name, data, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    reader = GGUFReader(f"{out}/tiny_dequant.gguf")
    expected = {"tensors": {}}
    for t in reader.tensors:
        values = quants.dequantize(np.asarray(t.data), t.tensor_type)
        expected["tensors"][t.name] = {"dtype": t.tensor_type.name, "shape": [int(d) for d in reversed(t.shape)],
                                       "values": rounded(values)}
    with open(f"{out}/tiny_dequant.expected.json", "w") as f:
        json.dump(expected, f)


def bytes_to_unicode():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        table[b] = chr(b) if b in printable else chr(256 + (extra := extra + 1) - 1)
    return table


def write_llama(out):
    byte_char = bytes_to_unicode()
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    merges = ["Ġ t", "h e", "Ġt he", "i n", "1 2", "Ġ 1", "Ã ©"]
    tokens = special + [byte_char[b] for b in range(256)] + ["".join(m.split(" ")) for m in merges]
    types = [3] * len(special) + [1] * (len(tokens) - len(special))
    vocab, hidden, inter, layers, heads, kv, hd = len(tokens), 32, 64, 2, 4, 2, 8
    assert vocab == 266
    w = GGUFWriter(f"{out}/tiny_llama.gguf", "llama")
    w.add_context_length(128)
    w.add_embedding_length(hidden)
    w.add_feed_forward_length(inter)
    w.add_block_count(layers)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(vocab)
    w.add_rope_dimension_count(hd)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(False)
    w.add_chat_template("{{ '<|im_start|>' + message['role'] + '\\n' }}")
    def add(name, shape, qtype):
        x = (rng.standard_normal(shape) * 0.1).astype(np.float32)
        if qtype is None:
            w.add_tensor(name, x)
        elif qtype == Q.F16:
            w.add_tensor(name, x.astype(np.float16))
        else:
            w.add_tensor(name, quants.quantize(x, qtype), raw_dtype=qtype)
    add("token_embd.weight", (vocab, hidden), Q.Q8_0)
    for i in range(layers):
        add(f"blk.{i}.attn_norm.weight", (hidden,), None)
        add(f"blk.{i}.attn_q.weight", (heads * hd, hidden), Q.Q4_1)
        add(f"blk.{i}.attn_k.weight", (kv * hd, hidden), Q.Q4_0)
        add(f"blk.{i}.attn_v.weight", (kv * hd, hidden), Q.Q8_0)
        add(f"blk.{i}.attn_output.weight", (hidden, heads * hd), Q.F16)
        add(f"blk.{i}.ffn_norm.weight", (hidden,), None)
        add(f"blk.{i}.ffn_gate.weight", (inter, hidden), Q.Q4_1)
        add(f"blk.{i}.ffn_up.weight", (inter, hidden), Q.Q4_1)
        add(f"blk.{i}.ffn_down.weight", (hidden, inter), Q.Q4_1)
    add("output_norm.weight", (hidden,), None)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    reader = GGUFReader(f"{out}/tiny_llama.gguf")
    expected = {}
    for t in reader.tensors:
        values = quants.dequantize(np.asarray(t.data), t.tensor_type).astype(np.float64).ravel()
        expected[t.name] = {"dtype": t.tensor_type.name, "shape": [int(d) for d in reversed(t.shape)],
                            "sum": float(values.sum()), "first": rounded(values[:4])}
    with open(f"{out}/tiny_llama.expected.json", "w") as f:
        json.dump(expected, f, indent=0)


if __name__ == "__main__":
    write_dequant(sys.argv[1])
    write_llama(sys.argv[1])
