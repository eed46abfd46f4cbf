#!/usr/bin/env python3
"""The workloads of `hicra bench sampler|learner` in PyTorch, for side-by-side figures.

A randomly initialised transformers `LlamaForCausalLM` with SmolLM2-135M's shape (30 layers,
width 576, 9 query / 3 KV heads, SwiGLU 1536, RoPE base 1e5, tied embeddings, 49152 tokens):

* sampler: `generate` with the KV cache, `batch` rows of `prompt_len` random tokens, exactly
  `new_tokens` new tokens each (sampling at temperature 1, EOS disabled); prefill is timed
  apart with one forward pass, decode tokens/s = batch * new_tokens / (total - prefill);
* learner: forward + backward + AdamW step on `batch` sequences of `seq_len` tokens, loss =
  mean token log-likelihood; tokens/s and model FLOP/s counted as `hicra bench learner` does.

`--dtype` means what it means to hicra: the sampler's weights are stored in that type; the
learner keeps float32 weights and runs forward/backward under `torch.autocast` in it (mixed
precision, like `hicra bench learner --dtype bf16`).

One warm-up round, then the median of `--rounds`. Prints one JSON object per batch size with
the same keys as `hicra bench ... --json` plus "impl": "pytorch".

Needs torch and transformers (present on the GPU machine); hicra itself never needs Python.
Usage: python3 bench/pytorch_bench.py sampler|learner [--device cuda] [--dtype float32]
       [--batch 1,16] [--prompt-len 64] [--new-tokens 64] [--seq-len 256] [--rounds 3]
"""
import argparse
import json
import statistics
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def smollm2_config():
    return LlamaConfig(
        vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
        num_attention_heads=9, num_key_value_heads=3, rope_theta=100000.0, rms_norm_eps=1e-5,
        max_position_embeddings=8192, tie_word_embeddings=True, bos_token_id=1,
        eos_token_id=2, pad_token_id=0,
    )


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_mib(device):
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, device):
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def sampler(model, args, batch):
    ids = torch.randint(3, model.config.vocab_size, (batch, args.prompt_len), device=args.device)
    prefill, decode = [], []
    for round_ in range(args.rounds + 1):
        with torch.no_grad():
            p, _ = timed(lambda: model(ids, use_cache=True), args.device)
            t, out = timed(lambda: model.generate(
                ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=1.0,
                top_p=1.0, top_k=0, max_new_tokens=args.new_tokens,
                min_new_tokens=args.new_tokens, eos_token_id=None, pad_token_id=0,
            ), args.device)
        assert out.shape[1] == args.prompt_len + args.new_tokens
        if round_ > 0:
            prefill.append(p)
            decode.append(max(t - p, 1e-9))
    p, d = statistics.median(prefill), statistics.median(decode)
    return {
        "prefill_tokens_per_sec": batch * args.prompt_len / p,
        "decode_tokens_per_sec": batch * args.new_tokens / d,
        "ms_per_decode_step": d / args.new_tokens * 1e3,
        "prompt_len": args.prompt_len, "new_tokens": args.new_tokens,
    }


def training_flops(config, params, batch, seq):
    attention = 2.0 * 2.0 * config.num_attention_heads * (config.hidden_size // config.num_attention_heads) * seq / 2.0
    return 3.0 * batch * seq * (2.0 * params + config.num_hidden_layers * attention)


def learner(model, args, batch):
    optim = torch.optim.AdamW(model.parameters(), lr=1e-5)
    ids = torch.randint(3, model.config.vocab_size, (batch, args.seq_len), device=args.device)
    params = sum(p.numel() for p in model.parameters())
    steps = []
    for round_ in range(args.rounds + 1):
        def step():
            with autocast(args):
                logits = model(ids[:, :-1]).logits.float()
            logp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None])
            loss = -logp.mean()
            loss.backward()
            optim.step()
            optim.zero_grad(set_to_none=True)
        t, _ = timed(step, args.device)
        if round_ > 0:
            steps.append(t)
    s = statistics.median(steps)
    gflops = training_flops(model.config, params, batch, args.seq_len) / s / 1e9
    return {
        "tokens_per_sec": batch * args.seq_len / s, "secs_per_step": s, "seq_len": args.seq_len,
        "model_gflops_per_sec": gflops,
        "mfu": gflops / (args.peak_tflops * 1e3) if args.peak_tflops else None,
    }


def autocast(args):
    """Mixed precision for the learner when a low dtype is asked for (a no-op in float32)."""
    dtype = getattr(torch, args.dtype)
    return torch.autocast(args.device.split(":")[0], dtype=dtype, enabled=dtype != torch.float32)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("bench", choices=["sampler", "learner"])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--batch", default="1,16")
    p.add_argument("--prompt-len", type=int, default=64)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--peak-tflops", type=float)
    args = p.parse_args()
    torch.manual_seed(0)
    model = LlamaForCausalLM(smollm2_config()).to(args.device)
    if args.bench == "sampler":
        model = model.to(getattr(torch, args.dtype)).eval()
    for batch in [int(b) for b in args.batch.split(",")]:
        if args.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        figures = (sampler if args.bench == "sampler" else learner)(model, args, batch)
        row = {"bench": args.bench, "impl": "pytorch", "model": "random:smollm2-135m",
               "device": args.device, "dtype": args.dtype, "batch": batch, **figures,
               "peak_mib": peak_mib(args.device)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
