#!/usr/bin/env bash
# The GPU checks of resreg (issue 24's goals) in one script of at most 9 minutes on one H100/H200; every
# part has a hard time limit and writes its table to $OUT/<part>.md (all of them: $OUT/summary.md):
#   1. engine   the engine's training step on CUDA, precision auto (bf16) and fp16 (grad scaler), against the
#               bare step of benchmarks/gpu_train_vs_timm.py at the same settings (resnet50, 224 px, batch
#               256, NHWC, synthetic data on the device). Goal: engine / bare >= 0.97.
#   2. quickstart  `resreg train quickstart`: wall time from the command to 90% test accuracy (benchmarks/
#               quickstart_time.py, imports included). Goal: <= 15 s.
#   3. jpeg     `resreg train resnet50` and `resnet152` on a folder of ImageNet-like JPEGs the script writes
#               (500x375, quality 90, 100 classes) with data.decode=cuda and cpu, next to the same command on
#               synthetic data of the same shape, with the GPU's utilisation sampled (nvidia-smi) during each.
#               Goal: folder / synthetic images/s >= 0.90 (resnet50) and >= 0.95 (resnet152) with decode cuda
#               (what data.decode=auto picks on CUDA). resnet50 runs decode=cuda once more with data.prefetch=false
#               (auto prefetches on CUDA: the next batch decodes while this one trains), to show what that gains.
#   4. degradation  plain-20/32/44/56 vs ResNet-20/32/44/56 on Fashion-MNIST, 30 epochs, 2 seeds, packed
#               JOBS runs per GPU (benchmarks/reproduce_fashion_mnist.sh --only degradation), in the time
#               left; what finished is tabulated, and a rerun with the same OUT resumes the rest.
#
#   bash benchmarks/gpu_suite.sh                 # on a GPU machine
#   bash benchmarks/gpu_suite.sh --smoke         # tiny, on a CPU: CI runs this so the script cannot rot
#
# Environment: OUT (default: a temp dir) receives tables, run dirs and logs; FASHION_MNIST names the folder of
# the four IDX files (default: Debian's /usr/share/datasets/fashion-mnist; a GPU machine without internet
# needs them carried along); BUDGET_S (default 540) the whole script's time; JOBS (default 8) runs per GPU
# in part 4; PYTHON the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=0; [ "${1:-}" = "--smoke" ] && SMOKE=1
FASHION_MNIST="${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}"
OUT="${OUT:-$(mktemp -d)}"; mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
PY="${PYTHON:-python3}"
SLOWER=$(( SMOKE ? 10 : 1 ))  # a smoke run on a busy 2-core CI machine: tiny sizes, but start-up is slow
BUDGET_S="${BUDGET_S:-$(( 540 * SLOWER ))}"
JOBS="${JOBS:-8}"
TABLES="$PY benchmarks/gpu_suite_tables.py"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
SUITE_START=$(date +%s)

left() { echo $(( BUDGET_S - ($(date +%s) - SUITE_START) )); }  # seconds of the budget still unspent

# limited SECONDS LOG COMMAND...: run COMMAND with its output in LOG, killed after SECONDS (or what the budget
# has left, if less); says so when it was. Never fails the script: a part that overruns costs its own row only.
limited() {
  local seconds=$(( $1 * SLOWER )) log=$2; shift 2
  (( seconds > $(left) )) && seconds=$(left)
  if (( seconds <= 5 )); then echo "(skipped: the suite's $BUDGET_S s are spent) $*" | tee -a "$log"; return 0; fi
  local status=0
  timeout -s TERM -k 10 "$seconds" "$@" >>"$log" 2>&1 || status=$?
  if (( status == 124 )); then echo "(stopped at its $seconds s limit) $*" | tee -a "$log"
  elif (( status != 0 )); then echo "(exit $status, see $log) $*"; fi
}

# sampled NAME COMMAND...: `limited` with the GPU's utilisation sampled every 200 ms into $OUT/NAME.util
sampled() {
  local name=$1 seconds=$2; shift 2
  local sampler=""
  if command -v nvidia-smi >/dev/null && [ "$SMOKE" = 0 ]; then
    nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 200 >"$OUT/$name.util" &
    sampler=$!
  fi
  limited "$seconds" "$OUT/$name.log" "$@"
  if [ -n "$sampler" ]; then kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; fi
}

# row LABEL NAME [--reference R --goal G]: the table row of run $OUT/NAME (or a dash row if it did not train)
row() {
  local label=$1 name=$2; shift 2
  $TABLES row "$label" "$OUT/$name" --util "$OUT/$name.util" "$@" 2>/dev/null || echo "| $label | - | - | - |"
}

echo "## resreg GPU suite ($(date -u +%F), $($PY -c 'import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU smoke")'))" | tee "$OUT/summary.md"

# --- sizes: the real ones, or tiny ones that prove every line runs on a CPU ------------------------------
if [ "$SMOKE" = 1 ]; then
  MODEL=resnet18 SIZE=64 BATCH=2 STEPS=4 LOG=1 PRECISIONS=(auto) BARE=(--smoke)
  JPEG=(--classes 4 --per-class 8 --width 64 --height 48) JPEG_MODELS=(resnet18) JPEG_IMAGES=32
  JPEG_RUN=(data.image_size=32 train.batch_size=8 "train.length=3 steps" "train.eval_every=1000 steps" engine.log_every=1
    eval.batch_size=8)
  FOLDER=(data.workers=1)
  QUICKSTART=(--smoke) DEGRADATION=(--smoke --seeds 1 --jobs 2)
else
  MODEL=resnet50 SIZE=224 BATCH=256 STEPS=200 LOG=20 PRECISIONS=(auto fp16) BARE=(--steps 20 --rounds 3)
  JPEG=(--classes 100 --per-class 64) JPEG_MODELS=(resnet50 resnet152) JPEG_IMAGES=6400
  # one evaluation and one checkpoint, at the end: the windows between measure training alone
  JPEG_RUN=(train.batch_size=256 "train.length=80 steps" "train.eval_every=1000 steps" engine.log_every=10) FOLDER=()
  QUICKSTART=(--target 0.90) DEGRADATION=(--length 30 --seeds 2 --jobs "$JOBS")
fi

# --- 1. the engine's step against the bare step ----------------------------------------------------------
{ echo; echo "### 1. engine step / bare step ($MODEL, $SIZE px, batch $BATCH, synthetic data, eager)"; echo
  echo "| run | engine img/s | engine / bare (goal 0.97) | GPU util % |"; echo "|---|---|---|---|"; } >"$OUT/engine.md"
cat >"$OUT/engine.yaml" <<YAML
name: gpu-engine
model: $MODEL
data: {type: synthetic, num_images: $(( BATCH * 50 )), image_size: $SIZE, in_chans: 3, num_classes: 1000}
train: {preset: fast, batch_size: $BATCH, length: $STEPS steps}
engine: {log_every: $LOG, checkpoint_every: 0, progress: lines}
eval: {splits: [test], batch_size: $BATCH}
YAML
for precision in "${PRECISIONS[@]}"; do
  # precision=auto is bf16 on a GPU with bf16; the bare step runs what the engine resolved
  bare_precision=$precision
  [ "$precision" = auto ] && bare_precision=$($PY -c 'import torch; print("bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32")')
  limited 60 "$OUT/bare-$precision.md" $PY benchmarks/gpu_train_vs_timm.py --models $MODEL --modes eager \
    --batch $BATCH --size $SIZE --precision "$bare_precision" "${BARE[@]}"
  sampled "engine-$precision" 90 $PY -m resreg train "$OUT/engine.yaml" "engine.precision=$precision" --run-dir "$OUT/engine-$precision"
  bare=$($TABLES bare "$OUT/bare-$precision.md" $MODEL 2>/dev/null || echo 0)
  row "precision=$precision (bare step $bare_precision: $bare img/s)" "engine-$precision" --reference "$bare" --goal 0.97 >>"$OUT/engine.md"
done
cat "$OUT/engine.md" | tee -a "$OUT/summary.md"

# --- 2. the quickstart's time to 90% ---------------------------------------------------------------------
limited 45 "$OUT/quickstart.log" $PY benchmarks/quickstart_time.py "${QUICKSTART[@]}" "data.root=$FASHION_MNIST"
{ echo; echo "### 2. quickstart on the GPU (goal: 90% in <= 15 s from the command)"; echo
  grep -E "^(final test acc|time to|total wall time|engine chose|exit status)" "$OUT/quickstart.log" | sed 's/^/    /' || echo "    (no result: see quickstart.log)"
} | tee "$OUT/quickstart.md" >>"$OUT/summary.md"; cat "$OUT/quickstart.md"

# --- 3. JPEG folders against synthetic data of the same shape --------------------------------------------
limited 60 "$OUT/jpegs.log" $TABLES jpegs "$OUT/jpegs" "${JPEG[@]}"
{ echo; echo "### 3. a JPEG folder ($(tail -1 "$OUT/jpegs.log")) / synthetic data, same command"
  echo "(goal with decode cuda, what auto picks on CUDA: >= 0.90 resnet50, >= 0.95 resnet152)"; echo
  echo "| run | img/s | / synthetic | GPU util % |"; echo "|---|---|---|---|"; } >"$OUT/jpeg.md"
for model in "${JPEG_MODELS[@]}"; do
  goal=0.90; [ "$model" = resnet152 ] && goal=0.95
  sampled "$model-synthetic" 60 $PY -m resreg train $model data.type=synthetic data.num_images=$JPEG_IMAGES \
    data.num_classes=100 "${JPEG_RUN[@]}" engine.checkpoint_every=0 engine.progress=lines --run-dir "$OUT/$model-synthetic"
  row "$model synthetic" "$model-synthetic" >>"$OUT/jpeg.md"
  # decode=cuda twice for the first model: with the prefetch thread (auto on CUDA) and without it, to see its gain
  variants=(cuda cpu); [ "$model" = "${JPEG_MODELS[0]}" ] && variants+=(cuda-noprefetch)
  for variant in "${variants[@]}"; do
    decode=${variant%%-*} prefetch=auto; [ "$variant" = cuda-noprefetch ] && prefetch=false
    sampled "$model-jpeg-$variant" 60 $PY -m resreg train $model "data.root=$OUT/jpegs" data.decode=$decode \
      data.prefetch=$prefetch "${FOLDER[@]}" "${JPEG_RUN[@]}" engine.checkpoint_every=0 engine.progress=lines \
      --run-dir "$OUT/$model-jpeg-$variant"
    label="$model JPEG decode=$decode"; [ "$prefetch" = false ] && label+=" prefetch=false"
    row "$label" "$model-jpeg-$variant" --reference "$OUT/$model-synthetic" --goal $goal >>"$OUT/jpeg.md"
  done
done
cat "$OUT/jpeg.md" | tee -a "$OUT/summary.md"

# --- 4. the degradation experiment, in the time left -------------------------------------------------------
remaining=$(left)
(( remaining > 60 )) || { echo "### 4. degradation: skipped, $remaining s of the budget left" | tee -a "$OUT/summary.md"; exit 0; }
limited $(( remaining - 10 )) "$OUT/degradation.log" bash benchmarks/reproduce_fashion_mnist.sh --only degradation \
  --out "$OUT/fashion_mnist" --data "$FASHION_MNIST" --time-limit $(( remaining - 30 )) "${DEGRADATION[@]}"
{ echo; echo "### 4. degradation on Fashion-MNIST (${DEGRADATION[*]}; $(( remaining - 30 )) s allowed)"; echo
  sed '1,2d' "$OUT/fashion_mnist/degradation/results.md" 2>/dev/null || echo "(no table: see degradation.log)"
  grep -h "degradation:" "$OUT/fashion_mnist/timing.txt" 2>/dev/null || true
} | tee "$OUT/degradation.md" >>"$OUT/summary.md"; cat "$OUT/degradation.md"
echo; echo "suite: $(( $(date +%s) - SUITE_START )) s of $BUDGET_S; tables in $OUT/summary.md"
