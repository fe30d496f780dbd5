#!/bin/sh
# Two ranks of `signature_verification train` under mpirun on a tiny CEDAR budget (ctest
# signature_verification_mpi). The program itself checks at the end that both replicas hold
# the same weights; here the run must succeed, say it ran on 2 ranks, and leave a model that
# `eval` reads. Exit 77 (SKIPPED) when the data are absent.
#   mpi_smoke.sh MPIEXEC EXE DATA_DIR OUT_DIR
set -u
mpiexec=$1 exe=$2 data=${TWIN_DATA:-$3} out=$4
if [ ! -d "$data/cedar" ]; then
  echo "SKIPPED: $data/cedar is absent"
  exit 77
fi
rm -rf "$out" && mkdir -p "$out" || exit 1
# Open MPI refuses root without these, and 2 ranks on fewer cores without --oversubscribe.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 TWIN_NUM_THREADS=1
over=""
"$mpiexec" --version 2>/dev/null | grep -q "Open MPI" && over="--oversubscribe"
if ! "$mpiexec" -n 2 $over "$exe" train --data "$data" --val-writers 7,13 --test-writers 1,4 --train-writers 4 \
     --height 32 --width 64 --channels 4 --embed 16 --epochs 2 --steps 3 --batch-pairs 8 --quiet --seed 5 \
     --model "$out/m.safetensors" >"$out/train.log" 2>&1; then
  cat "$out/train.log"
  echo "FAILED: train on 2 ranks"
  exit 1
fi
cat "$out/train.log"
grep -q "data-parallel over 2 ranks" "$out/train.log" || { echo "FAILED: not run on 2 ranks"; exit 1; }
[ -f "$out/m.safetensors" ] || { echo "FAILED: no model file"; exit 1; }
"$exe" eval --data "$data" --model "$out/m.safetensors" --report "" >"$out/eval.log" 2>&1 ||
  { cat "$out/eval.log"; echo "FAILED: eval of the 2-rank model"; exit 1; }
grep "skilled forgeries: EER" "$out/eval.log"
