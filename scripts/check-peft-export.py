#!/usr/bin/env python3
"""Checks a LoRA adapter exported by `hicra export --format peft` with the real `peft` package.

Loads BASE_DIR (`hicra export RUN --format hf --base`: the frozen base the adapters trained on)
with transformers, applies ADAPTER_DIR (`hicra export RUN --format peft`) with
`peft.PeftModel.from_pretrained`, and compares its logits on a few token sequences with those
of MERGED_DIR (`hicra export RUN --format hf`: the run's merged policy). Also checks that PEFT
loaded every adapter tensor as written, and that `merge_and_unload()` gives MERGED_DIR's
weights. Prints the largest absolute logit difference; the base's own difference from the
merged policy is printed too, to show the adapters change something.

Usage: python scripts/check-peft-export.py BASE_DIR ADAPTER_DIR MERGED_DIR
           [--tolerance 1e-4] [--sequences 4] [--length 24] [--seed 0]
Exit status 1 when a difference exceeds the tolerance (or an adapter tensor did not load).
"""

import argparse
import sys

import torch
from peft import PeftModel, get_peft_model_state_dict
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM


def load(path: str):
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    except TypeError:  # transformers before `dtype` replaced `torch_dtype`
        model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32)
    return model.eval()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_dir")
    parser.add_argument("adapter_dir")
    parser.add_argument("merged_dir")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--sequences", type=int, default=4)
    parser.add_argument("--length", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    base = load(args.base_dir)
    vocab = base.config.vocab_size
    model = PeftModel.from_pretrained(base, args.adapter_dir).eval()
    merged = load(args.merged_dir)
    config = model.peft_config["default"]
    print(
        f"{type(base).__name__} ({vocab} tokens) + PEFT {config.peft_type.value} adapter: "
        f"r {config.r}, lora_alpha {config.lora_alpha}, "
        f"targets {sorted(config.target_modules)}"
    )

    # every tensor of the file is in the model, as written
    written = load_file(f"{args.adapter_dir}/adapter_model.safetensors")
    loaded = get_peft_model_state_dict(model)
    missing = sorted(set(written) ^ set(loaded))
    if missing:
        print(f"adapter tensors not loaded as written: {missing[:6]}")
        return 1
    load_diff = max((written[k] - loaded[k].cpu()).abs().max().item() for k in written)
    print(f"{len(written)} adapter tensors loaded, max |diff| from the file {load_diff:.3e}")

    worst, base_gap = 0.0, 0.0
    generator = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():
        for i in range(args.sequences):
            length = max(2, args.length - 5 * i)
            ids = torch.randint(0, vocab, (1, length), generator=generator)
            ours = model(input_ids=ids).logits.double()
            theirs = merged(input_ids=ids).logits.double()
            with model.disable_adapter():
                plain = model(input_ids=ids).logits.double()
            diff = (ours - theirs).abs().max().item()
            gap = (plain - theirs).abs().max().item()
            worst, base_gap = max(worst, diff), max(base_gap, gap)
            print(
                f"sequence {i} ({length} tokens): base+adapter vs merged max |diff| {diff:.3e} "
                f"(base alone vs merged {gap:.3e})"
            )

        unloaded = model.merge_and_unload().state_dict()
        reference = merged.state_dict()
        weight_diff = max(
            (unloaded[k] - reference[k]).abs().max().item()
            for k in reference
            if k in unloaded
        )
        print(f"merge_and_unload() vs the merged export: max |weight diff| {weight_diff:.3e}")

    print(f"base alone vs merged: max |logit diff| {base_gap:.3e} (what the adapters change)")
    ok = worst <= args.tolerance and weight_diff <= args.tolerance
    verdict = "ok" if ok else "MISMATCH"
    print(f"max |logit diff| {worst:.3e} (tolerance {args.tolerance:.0e}): {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
