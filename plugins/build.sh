#!/usr/bin/env bash
# Builds every plugin to a WASI preview-2 component.
#
#   dist/plugins/   bundled plugins the server loads by default (utility, system, network)
#   dist/fixtures/  test-only components (echo, echo-v2, hostile, needs-store, py-hello)
#
# Works from any directory. Needs rustup (rust-toolchain.toml pins the
# toolchain and the wasm32-wasip2 target) and, unless SKIP_PYTHON=1, python3
# with venv support; componentize-py is installed into plugins/python/.venv.
set -euo pipefail

COMPONENTIZE_PY_VERSION="0.25.1"

plugins_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$plugins_dir")"
dist_plugins="$repo_dir/dist/plugins"
dist_fixtures="$repo_dir/dist/fixtures"
target="wasm32-wasip2"
out="$plugins_dir/target/$target/release"

mkdir -p "$dist_plugins" "$dist_fixtures"

# Copies a built component into dist and prints one line with its size.
publish() {
    local src="$1" dest="$2"
    cp "$src" "$dest"
    printf '%-40s %10s bytes\n' "${dest#"$repo_dir"/}" "$(wc -c <"$dest" | tr -d ' ')"
}

cd "$plugins_dir"

# toolhost-parsers is a plain library (its tests run natively with
# `cargo test -p toolhost-parsers`); building it for wasm here only checks it.
cargo build --release --target "$target" --workspace
publish "$out/toolhost_utility.wasm" "$dist_plugins/utility.wasm"
publish "$out/toolhost_system.wasm" "$dist_plugins/system.wasm"
publish "$out/toolhost_network.wasm" "$dist_plugins/network.wasm"
publish "$out/fixture_echo.wasm" "$dist_fixtures/echo.wasm"
publish "$out/fixture_hostile.wasm" "$dist_fixtures/hostile.wasm"
publish "$out/fixture_needs_store.wasm" "$dist_fixtures/needs-store.wasm"

# The v2 echo differs only by a cargo feature. Building it in the same target
# dir recompiles just that crate; its output overwrites fixture_echo.wasm,
# which is why the default build was copied out first.
cargo build --release --target "$target" -p fixture-echo --features v2
publish "$out/fixture_echo.wasm" "$dist_fixtures/echo-v2.wasm"

if [[ "${SKIP_PYTHON:-0}" != "1" ]]; then
    venv="$plugins_dir/python/.venv"
    if [[ ! -x "$venv/bin/componentize-py" ]] ||
        [[ "$("$venv/bin/componentize-py" --version 2>/dev/null)" != "componentize-py $COMPONENTIZE_PY_VERSION" ]]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check \
            "componentize-py==$COMPONENTIZE_PY_VERSION"
    fi
    (
        cd "$plugins_dir/python/hello"
        "$venv/bin/componentize-py" --quiet -d "$repo_dir/wit" -w plugin \
            componentize app -o "$dist_fixtures/py-hello.wasm"
    )
    printf '%-40s %10s bytes\n' "dist/fixtures/py-hello.wasm" \
        "$(wc -c <"$dist_fixtures/py-hello.wasm" | tr -d ' ')"
fi
