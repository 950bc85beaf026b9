#!/usr/bin/env bash
# Rebuilds the compute examples' WebAssembly modules from their sources: the WAT ones through
# the `wat` crate, the C ones with clang and lld (Debian: apt-get install -y clang lld):
# `examples/compute/build.sh`. Then `cargo test -p weft-sandbox --test examples` runs every
# shipped .wasm in the sandbox against the native build of the same source.
set -euo pipefail
cd "$(dirname "$0")/../.."
for src in examples/compute/*.wat; do
  cargo run --locked -q -p weft-sandbox --example wat2wasm -- "$src" "${src%.wat}.wasm"
done
# -nostdlib: no libc, so no imports (weft.h has what the kernels need); -ffp-contract=off:
# no fused multiply-add, the same floating point as the native build (crates/weft-sandbox/build.rs)
for src in examples/compute/*.c; do
  clang --target=wasm32 -nostdlib -O2 -ffp-contract=off -Wall -Wextra \
    -Wl,--no-entry -Wl,--strip-all -o "${src%.c}.wasm" "$src"
  echo "${src%.c}.wasm: $(wc -c < "${src%.c}.wasm") bytes"
done
