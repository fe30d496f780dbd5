#!/usr/bin/env bash
# A rank that fails must end the whole job, with a message saying which rank and why, in a
# bounded time; the checkpoint written before the failure must still load.
#   run_failure.sh MODE WORKDIR EXPECTED-MESSAGE PROGRAM MPIRUN [MPIRUN ARGS...]
# MODE is throw, kill or hang (see failing_rank.cpp). "timeout 90" is the bound: a job that
# outlives it (exit 124, or killed after it) fails the test.
set -uo pipefail
mode=$1 work=$2 expected=$3 program=$4
shift 4
rm -rf "$work" && mkdir -p "$work"
ckpt=$work/before-failure.safetensors
start=$(date +%s)
timeout --kill-after=10 90 "$@" "$program" --mode "$mode" --checkpoint "$ckpt" --fail-step 4 --timeout 10 \
  >"$work/out.txt" 2>&1
rc=$?
elapsed=$(($(date +%s) - start))
cat "$work/out.txt"
echo "run_failure: mode $mode: the job ended with exit code $rc after ${elapsed} s"
if ((rc == 124 || elapsed >= 90)); then
  echo "run_failure: FAILED: the job did not end by itself within 90 s" >&2
  exit 1
fi
if ((rc == 0)); then
  echo "run_failure: FAILED: the job exited 0 although a rank failed" >&2
  exit 1
fi
if ! grep -qF -- "$expected" "$work/out.txt"; then
  echo "run_failure: FAILED: the output does not say \"$expected\"" >&2
  exit 1
fi
if grep -q "step 4 done" "$work/out.txt"; then
  echo "run_failure: FAILED: rank 0 finished step 4 without the failed rank" >&2
  exit 1
fi
"$program" --verify "$ckpt" || { echo "run_failure: FAILED: the checkpoint written before the failure does not load" >&2; exit 1; }
echo "run_failure: mode $mode: passed"
