#!/usr/bin/env bash
# Builds the bundled plugins and the server, then runs `toolhost serve` with
# SQLite in ./data and the plugins in ./dist/plugins. Extra arguments go to
# `toolhost serve` (see `toolhost serve --help`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SKIP_PYTHON=1 bash plugins/build.sh >/dev/null
cargo build --release -p toolhost --quiet
exec target/release/toolhost serve "$@"
