#!/usr/bin/env bash
# Builds everything and runs every test, from a fresh clone.
#
# Installs what the tests need: the pinned Rust toolchain and wasm target come
# from rust-toolchain.toml via rustup; componentize-py (for the Python plugin)
# is installed from PyPI into plugins/python/.venv by plugins/build.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
rustup show active-toolchain
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step "plugins (Rust and Python components)"
bash plugins/build.sh

step "format"
cargo fmt --all -- --check
(cd plugins && cargo fmt --all -- --check)

step "lint"
cargo clippy --workspace --all-targets -- -D warnings
(cd plugins && cargo clippy --release --target wasm32-wasip2 --workspace -- -D warnings)

step "build (the end-to-end tests spawn target/debug/toolhost)"
cargo build --workspace --all-targets

step "test"
cargo test --workspace --no-fail-fast
