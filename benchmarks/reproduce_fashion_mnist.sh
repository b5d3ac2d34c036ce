#!/usr/bin/env bash
# The papers' comparisons, trained by resreg on Fashion-MNIST; the tables and curves for docs/reproduction.md.
#
#   benchmarks/reproduce_fashion_mnist.sh [--length E] [--seeds N] [--jobs J] [--out DIR] [--data DIR]
#                                         [--time-limit S] [--smoke] [--stochastic-depth] [--only NAME]
#                                         [-- KEY=VALUE ...]
#
# In order of importance, each a `resreg sweep` of configs/fashion_mnist/* into OUT (all runs in OUT/runs,
# shared between the comparisons: ResNet-32 and -56 are trained once):
#   1. degradation      plain-20/32/44/56 vs ResNet-20/32/44/56 (He et al. 2015, Fig. 6, Table 6)
#   2. shortcuts        ResNet-32 with shortcut options A, B, C (He et al. 2015, Table 3)
#   3. preactivation    ResNet-110 vs pre-activation ResNet-110 (He et al. 2016)
#   4. densenet         DenseNet-BC (L=100, k=12) vs ResNet-56, 0.77M vs 0.85M parameters (Huang et al. 2017)
#   5. ensembles        ResNet-20/32/44/56 of one seed as one ensemble; ResNet-32 as a 3-snapshot ensemble
#                       (Huang et al. 2017, Snapshot Ensembles) against its snapshots and a single ResNet-32
#   6. stochastic_depth ResNet-110 with stochastic depth vs without (Huang et al. 2016), with --stochastic-depth
# Each comparison writes OUT/<comparison>/results.md, results.csv, curves.png (and curves/ per group);
# the degradation also fig6-plain.png and fig6-resnet.png (the paper's two panels); OUT/summary.md
# gathers every table with the hardware, the versions and the wall times.
#
# Options:
#   --length E      epochs per run (train.length; the configs' default is 10). Cost per epoch and seed,
#                   from `resreg sweep --dry-run` (forward + backward = 3 x forward MACs x 60k images):
#                   degradation 91.1 TMAC, shortcuts +19.4, preactivation 69.5, densenet +39.6,
#                   ensembles +9.4: 229 TMAC per epoch and seed, 458 TMAC per epoch for 2 seeds. Small
#                   nets on a big GPU are bound by kernel launches, not MACs: measure with --smoke and
#                   a short --length first, then pick E from the wall times in OUT/summary.md.
#   --seeds N       seeds per config (engine.seed = 0..N-1; default 2)
#   --jobs J        runs at a time per GPU (default 1; several small runs keep a big GPU busier), or on the CPU
#   --out DIR       the output folder (default reproduction/fashion_mnist; --smoke: reproduction/smoke)
#   --data DIR      a folder holding Fashion-MNIST's four IDX files (sets RESREG_DATA); by default
#                   resreg looks in $RESREG_DATA, ~/.cache/resreg and /usr/share/datasets/fashion-mnist
#   --time-limit S  stop training after S seconds in all (running runs checkpoint; a rerun of the same
#                   command resumes them); the tables are written from what finished either way
#   --smoke         the whole pipeline, fast: 256 training images, 2 steps per run (start-up is most of it),
#                   into its own folder
#   --stochastic-depth  also comparison 6, last (+34.8 TMAC per epoch and seed)
#   --only NAME     only that comparison (degradation, shortcuts, ..., ensembles), e.g. the GPU suite's
#                   degradation at 30 epochs
#   -- KEY=VALUE    overrides for every run (engine.precision=bf16, engine.channels_last=true, ...)
#
# Rerunning the same command skips finished runs and resumes interrupted ones. A different --length or
# override with the same --out is refused (a run directory never silently holds another config).
# Needs: python3 with resreg installed (pip install -e . or its wheel; the entry points register the
# built-in plugins), torch, timm, omegaconf, matplotlib. Set PYTHON to use another interpreter.
set -euo pipefail

command_line="$0 $*"
length="" seeds=2 jobs=1 out="" time_limit="" smoke=0 stochastic_depth=0 only="" extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --length) length="$2"; shift 2 ;;
        --seeds) seeds="$2"; shift 2 ;;
        --jobs) jobs="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --data) export RESREG_DATA="$2"; shift 2 ;;
        --time-limit) time_limit="$2"; shift 2 ;;
        --smoke) smoke=1; shift ;;
        --stochastic-depth) stochastic_depth=1; shift ;;
        --only) only="$2"; shift 2 ;;
        --) shift; extra+=("$@"); break ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "reproduce_fashion_mnist.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cfg="$here/configs/fashion_mnist"
py="${PYTHON:-python3}"
overrides=()
[[ -n "$length" ]] && overrides+=("train.length=$length")
if [[ $smoke == 1 ]]; then
    out="${out:-reproduction/smoke}"
    # 256 images at batch 128: 2 steps per epoch; evaluate once per run on the full test split.
    overrides+=("data.limit=256" "engine.log_every=1" "train.eval_every=1")
    [[ -z "$length" ]] && overrides+=("train.length=1")
fi
overrides+=("${extra[@]}")
out="${out:-reproduction/fashion_mnist}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
runs="$out/runs"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(( $(nproc) / jobs > 0 ? $(nproc) / jobs : 1 ))}"  # J runs share the cores
started=$(date +%s)
deadline=$(( time_limit ? started + time_limit : 0 ))

wanted() { [[ -z "$only" || "$only" == "$1" ]]; }  # wanted NAME: is comparison NAME to run (--only)?

sweep() {  # sweep NAME CONFIG... : train (within the time limit) and tabulate one comparison
    local name="$1"; shift
    wanted "$name" || return 0
    local configs=() c
    for c in "$@"; do configs+=("$cfg/$c.yaml"); done
    local args=("${configs[@]}" --seeds "$seeds" --jobs "$jobs" --out "$out/$name" --runs "$runs" --title "$name")
    local t0=$(date +%s) status=0
    touch "$out/.started-$name"
    if (( deadline )); then
        local left=$(( deadline - $(date +%s) ))
        if (( left > 0 )); then
            timeout -s TERM --kill-after=120 "$left" "$py" -m resreg sweep "${args[@]}" "${overrides[@]}" || status=$?
        else
            status=124
        fi
        # No time left, or killed before it wrote its table: the table of what finished, nothing trained.
        if [[ ! "$out/$name/results.md" -nt "$out/.started-$name" ]]; then
            "$py" -m resreg sweep "${args[@]}" "${overrides[@]}" --report-only || true
        fi
    else
        "$py" -m resreg sweep "${args[@]}" "${overrides[@]}" || status=$?
    fi
    echo "$name: $(( $(date +%s) - t0 )) s, exit $status" | tee -a "$out/timing.txt"
}

echo "== $(date -u '+%Y-%m-%d %H:%M UTC'): the plan and its cost (also checks configs and data)" | tee "$out/timing.txt"
all=()
for c in plain20 plain32 plain44 plain56 resnet20 resnet32 resnet44 resnet56 resnet32_b resnet32_c \
         resnet110 preact_resnet110 densenet_bc100_k12 resnet32_snapshots; do all+=("$cfg/$c.yaml"); done
"$py" -m resreg sweep "${all[@]}" --seeds "$seeds" --jobs "$jobs" --out "$out/plan" --runs "$runs" \
    "${overrides[@]}" --dry-run | tee "$out/plan.txt"

sweep degradation plain20 plain32 plain44 plain56 resnet20 resnet32 resnet44 resnet56
for kind in plain resnet; do wanted degradation || break  # the paper's Figure 6: one panel of plain nets, one of ResNets (seed 0)
    dirs=()
    for depth in 20 32 44 56; do
        if [[ -f "$runs/fmnist-$kind$depth-seed0/model.safetensors" ]]; then dirs+=("$runs/fmnist-$kind$depth-seed0"); fi
    done
    if (( ${#dirs[@]} )); then
        "$py" -m resreg plot "${dirs[@]}" -o "$out/degradation/fig6-$kind.png" --title "$kind nets on Fashion-MNIST" \
            || echo "no fig6-$kind.png (resreg plot failed: is matplotlib installed?)" >&2
    fi
done
sweep shortcuts resnet32 resnet32_b resnet32_c
sweep preactivation resnet110 preact_resnet110
sweep densenet densenet_bc100_k12 resnet56
sweep snapshots resnet32 resnet32_snapshots

# Ensembles are models of their own: evaluated (not trained) from the run directories, with the same
# data, normalisation and test split as the runs (the recipe file as base).
if wanted ensembles; then
mkdir -p "$out/ensembles"
t0=$(date +%s)
for (( seed = 0; seed < seeds; seed++ )); do
    members=()
    for depth in 20 32 44 56; do
        run="$runs/fmnist-resnet$depth-seed$seed"
        if [[ -f "$run/model.safetensors" ]]; then members+=("$run"); fi
    done
    if (( ${#members[@]} == 4 )); then
        printf 'name: fmnist-resnets-seed%s\nbase: %s\nmodel: {type: ensemble, combiner: mean_probs, members: [%s]}\n' \
            "$seed" "$cfg/_fashion_mnist.yaml" "$(IFS=,; echo "${members[*]}")" > "$out/ensembles/resnets-seed$seed.yaml"
    fi
    snaps="$runs/fmnist-resnet32-snapshots-seed$seed"
    if [[ -f "$snaps/model.safetensors" ]]; then
        files=("$snaps"/snapshots/snapshot*.safetensors)
        printf 'name: fmnist-resnet32-snapshots-seed%s\nbase: %s\nmodel: {type: ensemble, combiner: mean_probs, members: [%s]}\n' \
            "$seed" "$cfg/_fashion_mnist.yaml" "$(IFS=,; echo "${files[*]}")" > "$out/ensembles/snapshots-seed$seed.yaml"
    fi
done
for file in "$out"/ensembles/*.yaml; do
    [[ -f "$file" ]] || continue
    if "$py" -m resreg eval "$file" "${overrides[@]}" --json > "${file%.yaml}.json.tmp"; then
        mv "${file%.yaml}.json.tmp" "${file%.yaml}.json"
    else
        echo "resreg eval $file failed; that ensemble is left out" >&2
    fi
done
"$py" - "$out" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
lines = ["| ensemble | test error % | members' test error % | best member % | single model % |", "|---|---|---|---|---|"]
for path in sorted((out / "ensembles").glob("*.json")):
    figures = json.loads(path.read_text())
    members = [100 * figures[k] for k in sorted(figures, key=lambda k: (len(k), k))
               if k.startswith("test_member") and k.endswith("_error") and "top5" not in k]
    seed = path.stem.rsplit("seed", 1)[1]
    single = "-"
    single_run = out / "runs" / f"fmnist-resnet32-seed{seed}"
    if path.stem.startswith("snapshots") and (single_run / "model.safetensors").is_file():
        # ResNet-32 trained as usual for the same number of epochs
        rows = [json.loads(line) for line in (single_run / "metrics.jsonl").open()]
        single = f"{100 * [r['test_error'] for r in rows if r.get('test_error') is not None][-1]:.2f}"
    shown = ", ".join(f"{m:.2f}" for m in members)
    lines.append(f"| {path.stem} | {100 * figures['test_error']:.2f} | {shown} | {min(members):.2f} | {single} |")
note = ("\nresnets-seedS: ResNet-20/32/44/56 of seed S, mean of probabilities. snapshots-seedS: the 3 snapshots "
        "of one ResNet-32 run (3 cosine cycles); single model: ResNet-32 trained as usual for the same epochs.\n")
(out / "ensembles" / "results.md").write_text("# ensembles\n\n" + "\n".join(lines) + "\n" + note)
print("\n".join(lines))
EOF
echo "ensembles: $(( $(date +%s) - t0 )) s" | tee -a "$out/timing.txt"
fi
if (( stochastic_depth )); then
    sweep stochastic_depth resnet110 resnet110_stochastic_depth
fi

{
    echo "# Fashion-MNIST reproduction: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Command: $command_line"
    echo
    "$py" - <<'EOF'
import platform, torch
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
print(f"Hardware: {gpu}; {platform.processor() or platform.machine()}; torch {torch.__version__}, python {platform.python_version()}")
EOF
    echo
    echo "Wall times (s):"; echo; sed 's/^/    /' "$out/timing.txt"; echo
    for name in degradation shortcuts preactivation densenet snapshots ensembles stochastic_depth; do
        if [[ -f "$out/$name/results.md" ]]; then sed 's/^# /## /' "$out/$name/results.md"; echo; fi
    done
} > "$out/summary.md"
echo "total: $(( $(date +%s) - started )) s; tables in $out/summary.md"
