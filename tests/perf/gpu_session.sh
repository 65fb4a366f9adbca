#!/usr/bin/env bash
# Issue 24's GPU figures in one call of a lent GPU machine, prepared so that a session with one
# spends its device minutes measuring, not setting up. Two steps:
#
#   bash tests/perf/gpu_session.sh wheels
#       here, once: the packages the GPU machine's image lacks (tree-sitter and its grammars,
#       polars 1.33.1, cleanlab, termcolor, docker, typer), as CPython 3.12 x86-64 wheels, into
#       .whl/ (which .git/info/exclude then ignores). The image has torch, torch-geometric,
#       numba, rich, transformers, peft and pyarrow.
#   bash tests/perf/gpu_session.sh run
#       there, with `.whl` carried: installs the wheels into /tmp/site and writes under $OUT:
#         hardware.txt    nvidia-smi, torch and the commit
#         paper.json      tests/perf/training.py --device cuda --profile paper --trace 12
#                         --json (a model that fails there gets a row with its error; when the
#                         step's time runs out, the rows measured by then, marked interrupted)
#         default.json    the default command on CUDA, seed 0, timed alone, then seeds 1 and 2,
#                         with seeds 0-2 on the CPU at the same time on the spare cores
#         seed-noise.txt  tests/perf/seed_noise.py: CUDA's metrics against the CPU's seeds
#         compiled.json   the training benchmark at paper again for great, transformer and
#                         ggnn with their encoders compiled (--compile): whether torch.compile
#                         pays, and what it costs to compile
#         cpu-profile.json  tests/perf/training.py --device cuda --profile cpu --trace 12, if
#                         time is left (the default command's sizes: where its time goes)
#         shared.json     tests/perf/sharing.py: 1, then 4 units of the default command (2
#                         epochs each) at once on the GPU, as a sweep that shares it runs them:
#                         wall time, units an hour and how busy the GPU was, if time is left
#         session.log     everything the steps printed
#
# Each step has its own time limit and the whole stays under $BUDGET seconds (default 540), so
# one call of at most 600 s brings every file back. DRY=1 runs the same steps on the CPU at the
# smoke profile, to check the script here before a device session spends minutes on it (its
# "gpu" side is then the CPU too, so both sides must score the same). MODELS=a,b limits the
# training benchmark's models; PYTHON names the interpreter (python3).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

wheels() {
    grep -qxF /.whl/ .git/info/exclude 2>/dev/null || echo /.whl/ >>.git/info/exclude
    local platforms=()
    for n in 2_28 2_27 2_24 2_17 2_5; do platforms+=(--platform "manylinux_${n}_x86_64"); done
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp "${platforms[@]}" --platform manylinux2014_x86_64 \
        --platform manylinux1_x86_64 --platform any -d .whl \
        tree-sitter==0.26.1 tree-sitter-python==0.25.0 tree-sitter-java==0.23.5 \
        tree-sitter-ruby==0.23.1 polars==1.33.1 cleanlab==2.9.0 termcolor==3.3.0 \
        docker==7.2.0 typer==0.29.2 || exit 1
    ls .whl && du -sh .whl
}

run() {
    : "${OUT:?OUT must name the folder for the figures}"
    local budget=${BUDGET:-540} t0=$SECONDS device=cuda profile=paper samples=4096 run_profile=()
    local shared=(--units 1,4 --profile cpu --epochs 2)
    if [ "${DRY:-}" = 1 ]; then
        device=cpu profile=smoke samples=64 run_profile=(--profile smoke)
        shared=(--units 1,2 --profile smoke --epochs 1)
    fi
    left() { echo $((budget - (SECONDS - t0))); }
    step() {  # step NAME LIMIT FILE COMMAND...: stdout into FILE, at most LIMIT seconds and
        local name=$1 limit=$2 file=$3  # never past the budget; stderr into the log
        shift 3
        [ "$(left)" -lt "$limit" ] && limit=$(left)
        if [ "$limit" -le 10 ]; then
            echo "== $name: skipped, $(left) s of the budget left"
            return 1
        fi
        echo "== $name (at most ${limit} s, at $((SECONDS - t0)) s)"
        timeout -k 5 "$limit" "$@" >"$file"
        local rc=$?
        echo "== $name: exit $rc at $((SECONDS - t0)) s"
        return $rc
    }
    # The wheels are CPython 3.12's, for the GPU image; a dry run uses the interpreter it is
    # given, with its own packages (here they would not install on 3.11).
    if [ -d .whl ] && [ "${DRY:-}" != 1 ]; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site .whl/*.whl || exit 1
        export PYTHONPATH=/tmp/site:$ROOT
    else
        export PYTHONPATH=$ROOT
    fi
    export PYTHONUNBUFFERED=1 BENCH_CACHE=${BENCH_CACHE:-/tmp/bench-cache}
    local python=${PYTHON:-python3}
    {
        nvidia-smi 2>&1 || echo "no nvidia-smi"
        nproc
        "$python" -c "import torch, sys; print(sys.version); print(torch.__version__,
torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA')"
        git -C "$ROOT" log -1 --format='%H %cd' 2>/dev/null || echo "no git"
    } >"$OUT/hardware.txt" 2>&1

    # 1. Every model's training at the paper profile (the datasets are built first, once).
    step paper 300 "$OUT/paper.json" "$python" tests/perf/training.py --device "$device" \
        --profile "$profile" --samples "$samples" ${MODELS:+--models "$MODELS"} --trace 12 --json

    # 2. The default command on CUDA, alone, timed; then seeds 1-2 on CUDA while the CPU runs
    #    seeds 0-2 on its spare cores (each as a local sweep's unit would: two cores).
    one() {  # one SIDE DEVICE SEED LIMIT: the default command, timed, into /tmp/default-SIDE-SEED
        local into=/tmp/default-$1-$3 limit=$4 start=$SECONDS rc
        [ "$(left)" -lt "$limit" ] && limit=$(left)
        if [ "$limit" -le 10 ]; then
            echo "== default $1 seed $3: skipped, $(left) s of the budget left"
            return 1
        fi
        echo "== default $1 seed $3 on $2 (at most ${limit} s, at $((SECONDS - t0)) s)"
        rm -rf "$into"
        timeout -k 5 "$limit" "$python" -m benchmark run --model ggnn --noise 0.25 \
            --device "$2" --seed "$3" "${run_profile[@]}" --results "$into" --json >"$into.json"
        rc=$?
        echo "== default $1 seed $3: exit $rc in $((SECONDS - start)) s"
        echo "{\"side\": \"$1\", \"device\": \"$2\", \"seed\": $3, \"exit\": $rc," \
            "\"wall_s\": $((SECONDS - start))}" >>/tmp/walls
    }
    rm -f /tmp/walls
    one gpu "$device" 0 150
    local pids=()
    for seed in 0 1 2; do
        OMP_NUM_THREADS=2 one cpu cpu "$seed" 420 &
        pids+=($!)
    done
    one gpu "$device" 1 150
    one gpu "$device" 2 150
    wait "${pids[@]}"
    [ -f /tmp/walls ] && "$python" - "$OUT/default.json" <<'PY'
import json, sys
from pathlib import Path
walls = [json.loads(line) for line in Path("/tmp/walls").read_text().splitlines()]
runs = []
for w in walls:
    text = Path(f"/tmp/default-{w['side']}-{w['seed']}.json").read_text()
    runs.append({**w, "metrics": json.loads(text) if text.strip() else None})
Path(sys.argv[1]).write_text(json.dumps(runs, indent=1))
PY
    step seed-noise 60 "$OUT/seed-noise.txt" "$python" tests/perf/seed_noise.py \
        --a /tmp/default-cpu-0,/tmp/default-cpu-1,/tmp/default-cpu-2 \
        --b /tmp/default-gpu-0,/tmp/default-gpu-1,/tmp/default-gpu-2

    # 3. Whether torch.compile pays at paper (rnn is left out: dynamo runs GRUs eagerly).
    local asked=${MODELS:-great,transformer,ggnn} compile_models=() m
    for m in ${asked//,/ }; do  # the var-misuse models among those asked
        case $m in ggnn | great | transformer | rnn) compile_models+=("$m") ;; esac
    done
    [ ${#compile_models[@]} -gt 0 ] && step compiled 150 "$OUT/compiled.json" "$python" \
        tests/perf/training.py --device "$device" --profile "$profile" --samples "$samples" \
        --models "$(IFS=,; echo "${compile_models[*]}")" --compile --json

    # 4. The default command's sizes for every model, with what time is left.
    step cpu-profile 150 "$OUT/cpu-profile.json" "$python" tests/perf/training.py \
        --device "$device" --profile cpu --samples "$samples" ${MODELS:+--models "$MODELS"} \
        --trace 12 --json

    # 5. Units that share the GPU, as a sweep wider than the GPUs runs them.
    step shared 150 "$OUT/shared.json" "$python" tests/perf/sharing.py --device "$device" \
        "${shared[@]}" --json
    echo "== done at $((SECONDS - t0)) s"
}

case "${1:-}" in
    wheels) wheels ;;
    run) run 2>&1 | tee "${OUT:?OUT must name the folder for the figures}/session.log" ;;
    *) echo "usage: bash tests/perf/gpu_session.sh wheels|run" >&2; exit 2 ;;
esac
