#!/usr/bin/env python3
"""Reference next-token logits for a GGUF model, computed by transformers (independent of hicra).

transformers reads the GGUF with the `gguf` package, dequantizes every tensor (Q4_1/Q8_0 included)
to float32 and un-permutes llama.cpp's Q/K rows back to the Hugging Face layout; the forward pass
then runs in float32 on CPU. For each prompt it prints one JSON line in the format of
`hicra model logits --json`:
  {"prompt": TEXT, "token_ids": [...], "positions": [{"index": i, "top": [[id, logit], ...],
   "logsumexp": x}, ...]}
for the last N prompt positions (`index` = 0-based position whose next-token distribution is
given, `top` sorted by logit, `logsumexp` over the whole vocabulary). The prompt is tokenized
as-is (special tokens in the text parsed), without BOS unless the model's metadata asks for it.

Usage: python3 scripts/reference_logits.py MODEL.gguf [--last N] [--top-k K] PROMPT...
Needs (throwaway venv): pip install torch transformers gguf tokenizers sentencepiece protobuf
"""
import argparse
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("prompts", nargs="+")
    p.add_argument("--last", type=int, default=3)
    p.add_argument("--top-k", type=int, default=10)
    a = p.parse_args()
    directory, name = os.path.dirname(os.path.abspath(a.model)), os.path.basename(a.model)
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    model.eval()
    dtypes = sorted({str(t.dtype) for t in model.state_dict().values()})
    print(f"transformers {__import__('transformers').__version__}, torch {torch.__version__}, "
          f"parameter dtypes {dtypes}, add_bos={getattr(tokenizer, 'add_bos_token', None)}", file=sys.stderr)
    for prompt in a.prompts:
        ids = tokenizer.encode(prompt, add_special_tokens=False)
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].double()
        positions = []
        for i in range(max(0, len(ids) - a.last), len(ids)):
            row = logits[i]
            values, indices = torch.topk(row, a.top_k)
            positions.append({
                "index": i,
                "top": [[int(t), float(v)] for t, v in zip(indices, values)],
                "logsumexp": float(torch.logsumexp(row, 0)),
            })
        print(json.dumps({"prompt": prompt, "token_ids": ids, "positions": positions}, ensure_ascii=False))


if __name__ == "__main__":
    main()
