#!/usr/bin/env bash
# Fetch, HERE, the wheels the GPU machine lacks into .whl/ (git-ignored), for benchmarks/gpu_suite.py's device command.
# That machine (python 3.12, x86-64) has torch, torchvision, numpy, scipy, pandas, pyarrow, fsspec, PyYAML and
# pillow, but not Hydra/OmegaConf (launch/train.py) nor PyAV (the video task), and it cannot download.
# antlr4-python3-runtime 4.9.3 (OmegaConf's parser) is published as source only: it is built here; it is pure Python.
# About 36 MiB in all (PyAV is most of it); the device call carries .whl (the limit is 64 MiB with the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${platforms[@]}" \
  -d .whl hydra-core==1.3.2 omegaconf==2.3.0 av==18.1.0
python3 -m pip wheel -q --no-deps -w .whl antlr4-python3-runtime==4.9.3
ls -l .whl
