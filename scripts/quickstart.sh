#!/usr/bin/env bash
# Fresh machine -> real result: set up .venv, embed the hh-harmless human preference pairs
# (cached: a second run does no inference), train a Bradley-Terry head on 80% of the
# prompts and report its held-out accuracy, then score AlpacaEval answers with it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export EMBRM_DATA_DIR="${EMBRM_DATA_DIR:-$(cd .. && pwd)/shared/data}"
mkdir -p results/quickstart
.venv/bin/embrm doctor
.venv/bin/embrm embed hh-harmless
.venv/bin/embrm train hh-harmless --head bt-linear --out results/quickstart/bt-linear-hh.npz
.venv/bin/embrm train hh-harmless --head classifier
