#!/usr/bin/env bash
# The GPU checks of resreg in one script (about 8 minutes on one H100/H200), printing tables:
#   1. resnet50 and densenet121 training images/s at 224 px, bf16, channels_last, eager and torch.compile,
#      synthetic data, side by side with timm in the same run (benchmarks/gpu_train_vs_timm.py);
#   2. the engine on CUDA: `resreg train` on synthetic ImageNet-sized data in fp16 (grad scaler) and in
#      precision=auto (bf16), a few hundred steps each;
#   3. the quickstart's time to 90% test accuracy on the real Fashion-MNIST (benchmarks/quickstart_time.py);
#   4. the throughput of (1) under torch.compile (cold compiles: the slowest part, so last).
#
#   bash benchmarks/gpu_suite.sh                 # on a GPU machine
#   bash benchmarks/gpu_suite.sh --smoke         # seconds, on a CPU: CI runs this so the script cannot rot
#
# FASHION_MNIST names the folder of the four IDX files (default: Debian's /usr/share/datasets/fashion-mnist;
# a GPU machine without internet needs them carried along). OUT (default: a temp dir) receives run dirs and logs.
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=0; [ "${1:-}" = "--smoke" ] && SMOKE=1
FASHION_MNIST="${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}"
OUT="${OUT:-$(mktemp -d)}"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1

# A resnet50 run on synthetic data: engine_config NUM_IMAGES IMAGE_SIZE BATCH STEPS writes $OUT/engine.yaml.
engine_config() {
  cat > "$OUT/engine.yaml" <<YAML
name: gpu-engine
model: resnet50
data: {type: synthetic, num_images: $1, image_size: $2, in_chans: 3, num_classes: 1000}
train: {preset: fast, batch_size: $3, length: $4, unit: step}
engine: {log_every: 50, checkpoint_every: 0, progress: lines}
eval: {splits: [test], batch_size: $3}
YAML
}

echo "## resreg GPU suite ($(date -u +%F), $($PY -c 'import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU smoke")'))"
if [ "$SMOKE" = 1 ]; then
  $PY benchmarks/gpu_train_vs_timm.py --smoke
  engine_config 16 32 4 2
  $PY -m resreg train "$OUT/engine.yaml" --run-dir "$OUT/engine-smoke" >/dev/null
  $PY benchmarks/quickstart_time.py --smoke "data.root=$FASHION_MNIST" | tail -6
  exit 0
fi

echo; echo "### 1. training throughput vs timm, eager (batch 256, 224 px, bf16, channels_last)"
$PY benchmarks/gpu_train_vs_timm.py --models resnet50 densenet121 --modes eager --batch 256 --steps 20 --rounds 5

echo; echo "### 2. the engine on CUDA (synthetic data, resnet50, 224 px, batch 256)"
engine_config 12800 224 256 200
for precision in auto fp16; do
  begin=$(date +%s.%N)
  $PY -m resreg train "$OUT/engine.yaml" engine.precision=$precision --run-dir "$OUT/engine-$precision" 2>&1 | tail -8
  echo "engine precision=$precision: $($PY -c "import time; print(round(time.time() - $begin, 1))") s wall for 200 steps + eval, imports included"
done

echo; echo "### 3. quickstart on the GPU: time to 90%"
$PY benchmarks/quickstart_time.py --target 0.90 "data.root=$FASHION_MNIST" | tail -7

# Last, as the most expensive: a cold torch.compile of densenet121's training step took over 2 minutes on
# an H200 machine's 16 cores (resnet50: 41 s; the second library's compile of the same graph hits the cache).
echo; echo "### 4. training throughput vs timm, torch.compile"
$PY benchmarks/gpu_train_vs_timm.py --models resnet50 densenet121 --modes compiled --batch 256 --steps 20 --rounds 3
