#!/usr/bin/env bash
# Rebuilds the compute examples' WebAssembly modules from their sources (WAT, through the
# `wat` crate) and checks them: `examples/compute/build.sh`.
set -euo pipefail
cd "$(dirname "$0")/../.."
for src in examples/compute/*.wat; do
  cargo run --locked -q -p weft-sandbox --example wat2wasm -- "$src" "${src%.wat}.wasm"
done
