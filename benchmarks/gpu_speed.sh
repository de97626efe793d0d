#!/usr/bin/env bash
# Issue 15's speed measurements on a lent GPU in one device call, with `carry: [".device"]` (the
# split tables of `python benchmarks/device_queue.py prepare`) and `timeout_s: 560`:
#
#     bash benchmarks/gpu_speed.sh
#
# Three runs of benchmarks/speed.py, the most decisive first, each stopped by its own --budget
# (440 s in all, plus ~20 s of start-up each). Every arm trains the baseline for 3 epochs (a
# compiled step's CUDA graphs are recorded in the second and replayed from the third) and validates
# every user after the last two; the arms of a run share configuration, seed and data, so their
# losses and NDCG@10 show whether compiled and eager, bf16 and float32 compute the same thing.
# Writes $OUT/gpu-speed.json (docs/gpu-speed.json's entries with this card's merged in: copy it
# back over docs/gpu-speed.json) and $OUT/log.txt.
set -uo pipefail
: "${OUT:?set OUT to the folder whose files come back}"
record="$OUT/gpu-speed.json"
if [ -f docs/gpu-speed.json ]; then cp docs/gpu-speed.json "$record"; fi

speed() {
    PYTHONPATH=. PYTHONUNBUFFERED=1 python3 benchmarks/speed.py "$@" --variant baseline --device cuda \
        --params profiles/paper.yaml --epochs 3 --record "$record" || echo "speed.py exited with $?"
}

{
    nvidia-smi
    # The official code's sizes (its defaults: 18.4 s per Beauty epoch on an H100) on the paper's network;
    # target <= 1.0 s per Beauty epoch, all 22,363 users' 32 reverse steps <= 2 s (4,096 users a
    # batch, as the device queue ranks: the reverse step's cost hardly grows with the batch).
    speed .device/split/amazon-beauty.parquet --name official -S model.max_len=50 -S train.batch_size=512 \
        -S model.hidden=128 -S model.blocks=4 -S eval.batch_size=4096 -S train.valid_users=0 \
        --arm fp32:compiled --arm fp32:eager --arm bf16:compiled --arm bf16:eager --budget 200
    # profiles/paper.yaml as it is (max_len 100, batch 1024); target <= 0.6 s per Beauty epoch.
    speed .device/split/amazon-beauty.parquet --name paper --arm fp32:compiled --arm fp32:eager \
        --arm bf16:compiled --budget 150
    # ML-1M at the paper's configuration: its epoch, and with Beauty's the paper grid's time.
    speed .device/split/ml-1m.parquet --name paper --arm fp32:compiled --arm fp32:eager --budget 90
} 2>&1 | tee "$OUT/log.txt"
