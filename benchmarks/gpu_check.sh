#!/usr/bin/env bash
# The GPU checks of issues 13 and 14 in one short run on a lent device (see README, GPU):
# the model benchmark on CUDA, torchrun with NCCL (one rank: one GPU here), and the distributed
# benchmark's one-rank figures at n = 10^8. Run from the repository root; results also in $OUT.
REPO=$(pwd)
cd /tmp || exit 1
export PYTHONPATH=$REPO
OUT=${OUT:-/tmp}
python -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
timeout 70 python "$REPO/benchmarks/models.py" --device cuda --repeat 3 --epochs 2 2>&1 | tee "$OUT/models.txt"
timeout 40 torchrun --standalone --nproc-per-node 1 -m walker_tui -- run --device cuda --n 1000000 --quiet 2>&1 | grep -v "^W\|^\*" | tail -3
timeout 40 torchrun --standalone --nproc-per-node 1 -m walker_tui -- run --device cuda --problem digits --epochs 3 2>&1 | grep -v "^W\|^\*" | tail -5
timeout 80 python "$REPO/benchmarks/distributed.py" --device cuda --ranks 1 --n 100000000 --epochs 20 2>&1 | tee "$OUT/distributed.txt"
