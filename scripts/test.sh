#!/usr/bin/env bash
# Every test with every feature, on a fresh Debian/Ubuntu machine: installs what the tests need
# when it is missing (Mesa's software Vulkan driver for the WebGPU tests, Open MPI and libclang
# for the distributed ones), then runs `cargo test --workspace` with the feature sets whose
# needs are met. Without root or sudo it says what it could not install, runs everything that
# does not need it, and its closing line names the feature sets it skipped.
#
#   scripts/test.sh                 # as the README and CI run it
#   scripts/test.sh -- --nocapture  # arguments after `--` go to the test binaries
#
# HICRA_TEST_NO_INSTALL=1 skips the installation step (to see what a machine lacks).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '== %s\n' "$*"; }

has_lavapipe() { ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; }
has_mpi() {
    command -v mpirun >/dev/null 2>&1 && command -v mpicc >/dev/null 2>&1 \
        && ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1
}

# How to run apt-get as root here: "" (we are root), "sudo -n" (sudo without a password), or
# nothing at all (the reason is printed).
privilege() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "no apt-get on this machine (not Debian/Ubuntu)" >&2
        return 1
    fi
    if [ "$(id -u)" -eq 0 ]; then
        echo ""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        echo "sudo -n"
    else
        echo "not root and no password-less sudo" >&2
        return 1
    fi
}

updated=""
install() { # install PACKAGE...; returns 1 (with the reason printed) when it cannot
    local how
    if [ -n "${HICRA_TEST_NO_INSTALL:-}" ]; then
        echo "   not installing (HICRA_TEST_NO_INSTALL is set): $*"
        return 1
    fi
    if ! how=$(privilege 2>/tmp/hicra-test-why.$$); then
        echo "   cannot install $* : $(cat /tmp/hicra-test-why.$$)"
        rm -f /tmp/hicra-test-why.$$
        return 1
    fi
    rm -f /tmp/hicra-test-why.$$
    if [ -z "$updated" ]; then
        $how apt-get update -qq || true
        updated=1
    fi
    echo "   installing $* ..."
    $how env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    echo "   installed $*"
}

features=(cuda)   # cuda builds without a GPU or a CUDA toolkit (its tests skip without one)
skipped=()

say "Mesa's software Vulkan driver (lavapipe), for the WebGPU tests"
if has_lavapipe || { install mesa-vulkan-drivers libvulkan1 && has_lavapipe; }; then
    echo "   found: $(ls /usr/share/vulkan/icd.d/lvp_icd*.json | head -n 1)"
    features+=(wgpu)
    # Here the software adapter must be found: the WebGPU tests fail instead of skipping.
    export HICRA_REQUIRE_WGPU=1
    # wgpu's Vulkan loader wants a runtime directory; fresh machines and CI often have none.
    if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "$XDG_RUNTIME_DIR" ]; then
        XDG_RUNTIME_DIR="$(mktemp -d)"
        export XDG_RUNTIME_DIR
    fi
else
    skipped+=("wgpu (no Vulkan driver: apt-get install mesa-vulkan-drivers libvulkan1)")
fi

say "Open MPI and libclang, for the distributed tests (run under mpirun)"
if has_mpi || { install openmpi-bin libopenmpi-dev libclang-dev && has_mpi; }; then
    echo "   found: $(mpirun --version 2>&1 | head -n 1)"
    features+=(mpi)
else
    skipped+=("mpi (no Open MPI: apt-get install openmpi-bin libopenmpi-dev libclang-dev)")
fi

list=$(IFS=,; echo "${features[*]}")
say "cargo test --workspace --features $list"
cargo --version
cargo test --workspace --features "$list" "$@"

if [ ${#skipped[@]} -eq 0 ]; then
    say "passed with every feature set: $list"
else
    say "passed with features $list; SKIPPED, not tested here:"
    for s in "${skipped[@]}"; do echo "   - $s"; done
fi
