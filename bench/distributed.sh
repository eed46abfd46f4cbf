#!/usr/bin/env bash
# Time per RL step of the quickstart on 1, 2 and 3 processes, and the bytes moved per step.
# Usage: bench/distributed.sh [HICRA_BINARY]   (a release build with --features mpi)
# Per step = (wall of a LONG-step run - wall of a SHORT-step run) / (LONG - SHORT): the warm-up,
# start-up and the last evaluation cancel out. Prints one JSON line per layout.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/hicra}
SHORT=${SHORT:-20}
LONG=${LONG:-80}
MPI=(mpirun --allow-run-as-root --oversubscribe)
export OMPI_MCA_btl_vader_single_copy_mechanism=none HICRA_LOG=warn NO_COLOR=1
out=$(mktemp -d)

wall() { # NP STEPS PLACEMENT-SETS...
    local np=$1 steps=$2; shift 2
    local sets=(--set "stages.sampler.steps=$steps" --set "stages.metrics.total_steps=$steps"
                --set stages.learner.checkpoint_every=0 --set stages.evaluator.eval_every=1000000)
    for p in "$@"; do sets+=(--set "$p"); done
    local start end
    start=$(date +%s.%N)
    if [ "$np" = 1 ]; then
        "$BIN" run pipelines/quickstart.toml --out "$out/r" "${sets[@]}" >/dev/null 2>&1
    else
        "${MPI[@]}" -np "$np" "$BIN" run pipelines/quickstart.toml --out "$out/r" "${sets[@]}" >/dev/null 2>&1
    fi
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}

layout() { # NAME NP PLACEMENT-SETS...
    local name=$1 np=$2; shift 2
    local short long
    short=$(wall "$np" "$SHORT" "$@")
    long=$(wall "$np" "$LONG" "$@")
    local mib
    mib=$(python3 - "$out/r/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
v = [r["distributed/collective_mib"] for r in rows[2:] if "distributed/collective_mib" in r]
print(sum(v) / len(v) if v else 0.0)
PY
)
    local per_step
    per_step=$(echo "scale=4; ($long - $short) / ($LONG - $SHORT)" | bc)
    echo "{\"layout\":\"$name\",\"processes\":$np,\"secs_per_step\":$per_step,\"collective_mib_per_step\":$mib,\"wall_short\":$short,\"wall_long\":$long}"
}

layout "one process" 1
layout "2 learner replicas" 2 run.placement.learner=0-1
layout "sampler on its own rank" 2 run.placement.sampler=1
layout "2 learner replicas + sampler rank" 3 run.placement.learner=0-1 run.placement.sampler=2
rm -rf "$out"
