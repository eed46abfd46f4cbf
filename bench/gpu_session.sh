#!/usr/bin/env bash
# The GPU checks of the devices issue in one go, for a machine with an NVIDIA GPU and no Rust
# (the device tool's machine): device checks on CUDA and WebGPU, then the sampler, learner,
# step and branch benchmarks of hicra and the same workloads in PyTorch, all JSON lines under $OUT.
#
# Build the binary it runs here, on the CPU machine (cudarc picks its CUDA API at build time;
# the GPU machine has CUDA 13.0):
#   CUDARC_CUDA_VERSION=13000 cargo build --release --features cuda,wgpu --target-dir target/device
#   mkdir -p .devbin && cp target/device/release/hicra .devbin/ && strip .devbin/hicra
# and carry `.devbin` (and `.gl`, the Vulkan loader debs, see the device tool's README).
#
# Usage: bench/gpu_session.sh [BIN]   (default .devbin/hicra; results in ${OUT:-out}/)
set -uo pipefail
bin="${1:-.devbin/hicra}"
out="${OUT:-out}"
mkdir -p "$out"
if compgen -G ".gl/*.deb" >/dev/null; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
export VK_DRIVER_FILES="${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.csv"

run() { # name, command...
    local name="$1"
    shift
    echo "== $name"
    timeout 240 "$@" >"$out/$name.jsonl" 2>"$out/$name.err"
    echo "exit $?"
    tail -n 20 "$out/$name.jsonl"
}

run check-cuda "$bin" device check cuda:0 --json
run check-cuda-bf16 "$bin" device check cuda:0 --dtype bf16 --json
run check-wgpu "$bin" device check wgpu --json
run check-wgpu-f16 "$bin" device check wgpu --dtype f16 --json
model="random:smollm2-135m"
run hicra-sampler "$bin" bench sampler --model "$model" --device cuda:0 --batch 1,16,64 --json
run hicra-learner "$bin" bench learner --model "$model" --device cuda:0 --batch 8,32 --peak-tflops 67 --json
run hicra-step "$bin" bench step --model "$model" --device cuda:0 --prompts 8 --group 8 --json
# tree branching from kept caches on CUDA: branch_over_prefill, and same_tokens / logprob_gap
# (about 1e-5 in f32) check the tensor path's cache gather against prefilling each prefix
run hicra-branch "$bin" bench branch --model "$model" --device cuda:0 --batch 1,16 --prompt-len 256 --new-tokens 64 --children 8 --json
run hicra-sampler-wgpu "$bin" bench sampler --model "$model" --device wgpu --batch 16 --json
run torch-sampler python3 bench/pytorch_bench.py sampler --device cuda --batch 1,16,64
run torch-learner python3 bench/pytorch_bench.py learner --device cuda --batch 8,32 --peak-tflops 67
# bf16: weights stored low for sampling; mixed precision (autocast) for learning. H100/H200
# dense bf16 peak: ~990 TFLOP/s.
run hicra-sampler-bf16 "$bin" bench sampler --model "$model" --device cuda:0 --batch 16,64 --dtype bf16 --json
run hicra-learner-bf16 "$bin" bench learner --model "$model" --device cuda:0 --batch 32 --dtype bf16 --peak-tflops 990 --json
run torch-sampler-bf16 python3 bench/pytorch_bench.py sampler --device cuda --batch 16,64 --dtype bfloat16
run torch-learner-bf16 python3 bench/pytorch_bench.py learner --device cuda --batch 32 --dtype bfloat16 --peak-tflops 990
