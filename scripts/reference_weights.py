#!/usr/bin/env python3
"""Checksums of a few SmolLM2 weights as transformers dequantizes them from the GGUF.

transformers converts GGUF tensors to float32 with the `gguf` package and un-permutes llama.cpp's
Q/K rows to the Hugging Face rotate-half layout. hicra keeps GGUF order for Q/K, so its test
applies `unpermute_rope` before comparing. Prints JSON: {HF name: {"shape", "sum", "abs_sum",
"first"}}.

Usage: python3 scripts/reference_weights.py MODEL.gguf > crates/hicra-pretrained/tests/fixtures/smollm2_weights.json
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM

NAMES = [
    "model.embed_tokens.weight",
    "model.layers.0.self_attn.q_proj.weight",
    "model.layers.0.self_attn.k_proj.weight",
    "model.layers.0.self_attn.v_proj.weight",
    "model.layers.0.input_layernorm.weight",
    "model.layers.29.mlp.down_proj.weight",
    "model.norm.weight",
]


def main():
    path = sys.argv[1]
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(path)), gguf_file=os.path.basename(path), dtype=torch.float32)
    state = model.state_dict()
    out = {}
    for name in NAMES:
        t = state[name].double()
        out[name] = {"shape": list(t.shape), "sum": float(t.sum()), "abs_sum": float(t.abs().sum()),
                     "first": [float(v) for v in t.flatten()[:4]]}
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
