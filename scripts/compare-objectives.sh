#!/usr/bin/env bash
# The quickstart trained with each learner objective on several seeds: prints held-out
# accuracy after the warm-up and at the end, per arm and seed, and the mean per arm.
#   scripts/compare-objectives.sh [SEEDS...]      (default: 1 2 3 4 5; needs a release build)
# Arms: ppo (1 epoch, one step per batch) and, with 2 epochs of 16-rollout mini-batches (8
# optimiser steps per batch), ppo, gspo and cispo at their default clip ranges. (With one step
# per batch every objective has the same gradient, -A grad log p at ratio 1: gspo and cispo
# would repeat the ppo arm.)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${HICRA_BIN:-target/release/hicra}
[ -x "$bin" ] || cargo build --release
seeds=("${@:-1 2 3 4 5}")
read -r -a seeds <<<"${seeds[*]}"
declare -A arms=(
    [ppo]=""
    [ppo-e2m16]="--set stages.learner.epochs=2 --set stages.learner.mini_batch_size=16"
    [gspo-e2m16]="--set stages.learner.objective=gspo --set stages.learner.epochs=2 --set stages.learner.mini_batch_size=16"
    [cispo-e2m16]="--set stages.learner.objective=cispo --set stages.learner.epochs=2 --set stages.learner.mini_batch_size=16"
)
out=runs/compare-objectives
mkdir -p "$out"
printf '%-10s %4s %7s %7s %6s\n' arm seed start end secs
for arm in ppo ppo-e2m16 gspo-e2m16 cispo-e2m16; do
    for seed in "${seeds[@]}"; do
        dir="$out/$arm-$seed"
        rm -rf "$dir"
        t0=$(date +%s)
        # shellcheck disable=SC2086
        "$bin" run --out "$dir" --set run.seed="$seed" ${arms[$arm]} >/dev/null 2>"$dir.log"
        t1=$(date +%s)
        python3 - "$dir/metrics.jsonl" "$arm" "$seed" "$((t1 - t0))" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
acc = [r["accuracy/eval"] for r in rows if "accuracy/eval" in r]
print(f"{sys.argv[2]:<10} {sys.argv[3]:>4} {acc[0]:7.3f} {acc[-1]:7.3f} {sys.argv[4]:>6}")
PY
    done
done | tee "$out.txt"
python3 - "$out.txt" <<'PY'
import collections, sys
by = collections.defaultdict(list)
for line in open(sys.argv[1]):
    arm, seed, start, end, secs = line.split()
    by[arm].append((float(start), float(end)))
for arm, v in by.items():
    n = len(v)
    print(f"mean {arm:<10} n={n} start {sum(s for s, _ in v) / n:.3f} end {sum(e for _, e in v) / n:.3f}")
PY
