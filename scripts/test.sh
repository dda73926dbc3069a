#!/usr/bin/env bash
# Builds everything and runs every test, from a fresh clone.
#
# Installs what the tests need: the pinned Rust toolchain and wasm target come
# from rust-toolchain.toml via rustup; componentize-py (for the Python plugin)
# is installed from PyPI into plugins/python/.venv by plugins/build.sh; the SSH
# tests start a private OpenSSH sshd, installed from Debian if missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

# One cold build: incremental state would only cost disk.
export CARGO_INCREMENTAL=0

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

step "system packages"
if [ ! -x /usr/sbin/sshd ] || ! command -v ssh-keygen >/dev/null || ! command -v ssh >/dev/null; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq openssh-server openssh-client >/dev/null
fi
/usr/sbin/sshd -V 2>&1 | head -n1 || true

step "disk"
df -h . | tail -n1

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
cargo build -p toolhost

step "test: plugin output parsers (native)"
(cd plugins && cargo test -p toolhost-parsers)

step "test: host, end to end"
cargo test --workspace --no-fail-fast

step "disk used by the build"
du -sh target plugins/target 2>/dev/null || true
