#!/usr/bin/env bash
# GPU check: the three full-fine-tuning presets (text, image, NER) on their bundled weights, bf16 + SDPA, each as a
# real run (runs.start -> accelerate launch). Prints samples/s, MFU against the card's bf16 peak and peak memory.
#   bench/gpu_check.sh [--steps N] [--batch-size B]      (results also in bench/results/gpu_check.json)
# Without a GPU it prints "no GPU" and exits 0, so it can sit in any CI job unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "no GPU: nothing to measure here (bench/gpu_check.sh measures training on a CUDA GPU)"
  exit 0
fi
exec "$PY" -m bench.gpu_check "$@"
