#!/usr/bin/env bash
# GPU check for Sentinel's classifier: throughput on CUDA in bf16 and fp16 (issue 5).
#
# Run from a fresh clone on a machine with an NVIDIA GPU (e.g. a lent H200 through the device
# tool: `bash bench/gpu_check.sh`). Self-contained: needs python3 with torch (CUDA build),
# transformers, tokenizers, safetensors and numpy; anything missing is installed from wheels in
# ./.whl when that folder exists (machines without network), else from PyPI. Uses the shipped
# model in models/sentinel-minilm and generated headlines when ../shared/datasets is absent.
# Finishes in well under 5 minutes. Target on an H200: >= 20,000 texts/s including tokenisation.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
TEXTS=${TEXTS:-100000}
BASELINE_TEXTS=${BASELINE_TEXTS:-2000}
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

missing=$($PY - <<'PY'
import importlib.util
need = ["torch", "transformers", "tokenizers", "safetensors", "numpy", "pandas"]
print(" ".join(n for n in need if importlib.util.find_spec(n) is None))
PY
)
if [ -n "$missing" ]; then
    echo "installing: $missing"
    if compgen -G ".whl/*.whl" >/dev/null; then
        $PY -m pip install -q --no-index --no-deps --target /tmp/sentinel-site .whl/*.whl
        export PYTHONPATH="/tmp/sentinel-site:$PYTHONPATH"
    else
        $PY -m pip install -q $missing
    fi
fi

if [ ! -f models/sentinel-minilm/model.safetensors ]; then
    echo "error: models/sentinel-minilm/model.safetensors is missing; run from a clone of the repo" >&2
    exit 2
fi

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$PY - <<'PY'
import torch, transformers
print(f"torch={torch.__version__} transformers={transformers.__version__} "
      f"cuda={torch.cuda.is_available()} bf16={torch.cuda.is_available() and torch.cuda.is_bf16_supported()}")
if not torch.cuda.is_available():
    raise SystemExit("error: torch sees no CUDA GPU")
PY

status=0
for precision in bf16 fp16; do
    echo "== cuda $precision =="
    timeout 130 $PY bench/classify.py --device cuda --precision "$precision" \
        --texts "$TEXTS" --baseline-texts "$BASELINE_TEXTS" --token-budget 131072 --warmup 500 || status=$?
done
exit $status
