#!/usr/bin/env python3
"""Checks a process reward model exported by hicra against Hugging Face transformers.

Loads PRM_DIR (written by hicra-prm's store::save) with AutoModelForTokenClassification,
runs the token ids of LOGITS_JSON through it, and prints the largest absolute difference
between transformers' per-token logits (logits[0, t, 0]) and hicra's.

LOGITS_JSON is {"sequences": [{"ids": [...], "logits": [...]}, ...]}, hicra's per-token
logits of each sequence (ProcessRewardModel::token_logits). The sequences are run one by one
and then together, right-padded with an attention mask, which must give the same values.

Usage: python scripts/check-prm-export.py PRM_DIR LOGITS_JSON [--tolerance 1e-4]
Exit status 1 when a difference exceeds the tolerance.
"""

import argparse
import json
import sys

import torch
from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prm_dir")
    parser.add_argument("logits_json")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()

    config = AutoConfig.from_pretrained(args.prm_dir)
    try:
        model = AutoModelForTokenClassification.from_pretrained(
            args.prm_dir, dtype=torch.float32
        )
    except TypeError:  # transformers before `dtype` replaced `torch_dtype`
        model = AutoModelForTokenClassification.from_pretrained(
            args.prm_dir, torch_dtype=torch.float32
        )
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(args.prm_dir)
    print(
        f"{type(model).__name__}: num_labels {config.num_labels}, "
        f"{sum(p.numel() for p in model.parameters())} parameters, "
        f"tokenizer {type(tokenizer).__name__} ({len(tokenizer)} tokens)"
    )

    with open(args.logits_json) as f:
        sequences = json.load(f)["sequences"]
    worst = 0.0
    with torch.no_grad():
        for i, seq in enumerate(sequences):
            ids = torch.tensor([seq["ids"]], dtype=torch.long)
            theirs = model(input_ids=ids).logits[0, :, 0].double()
            ours = torch.tensor(seq["logits"], dtype=torch.float64)
            diff = (theirs - ours).abs().max().item()
            worst = max(worst, diff)
            print(
                f"sequence {i} ({len(seq['ids'])} tokens): max |diff| {diff:.3e} "
                f"(logits in [{ours.min().item():.3f}, {ours.max().item():.3f}])"
            )

        longest = max(len(s["ids"]) for s in sequences)
        ids = torch.zeros((len(sequences), longest), dtype=torch.long)
        mask = torch.zeros((len(sequences), longest), dtype=torch.long)
        for i, seq in enumerate(sequences):
            ids[i, : len(seq["ids"])] = torch.tensor(seq["ids"])
            mask[i, : len(seq["ids"])] = 1
        batched = model(input_ids=ids, attention_mask=mask).logits[:, :, 0].double()
        batch_worst = 0.0
        for i, seq in enumerate(sequences):
            n = len(seq["ids"])
            ours = torch.tensor(seq["logits"], dtype=torch.float64)
            batch_worst = max(batch_worst, (batched[i, :n] - ours).abs().max().item())
        print(f"batched, right-padded: max |diff| {batch_worst:.3e}")
        worst = max(worst, batch_worst)

    verdict = "ok" if worst <= args.tolerance else "MISMATCH"
    print(f"max |diff| {worst:.3e} (tolerance {args.tolerance:.0e}): {verdict}")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
