#!/usr/bin/env bash
# Train the tokenizer, then MaskGIT and the upscaler on its tokens side by side, on one lent GPU
# in one device call; the exported fp16 weights and a report (samples/s, MFU, validation) go to $OUT.
#
#   here, once:          .venv/bin/python benchmarks/gpu_bundle.py      (shards + wheels -> gpu_bundle/)
#   on the GPU machine:  run(command="bash benchmarks/gpu_train.sh", carry=["gpu_bundle"], timeout_s=600)
#   CPU rehearsal:       GPU_TRAIN_TINY=1 OUT=/tmp/o BUNDLE=DIR PY=.venv/bin/python bash benchmarks/gpu_train.sh
#
# Each model continues from its staged v2 weights at their size (skysynth/weights/*_v2), with
# GPU-sized batches. BUDGET_S (default 420) is the training time: 40% tokenizer, then 60% for
# MaskGIT and the upscaler at once (small networks leave most of the GPU idle alone). Start-up,
# validation and export come on top (~1-2 min). TOKENIZER_ARGS, MASKGIT_ARGS, UPSCALER_ARGS add
# Hydra overrides (other sizes, a sweep's point). GPU_TRAIN_TINY=1: tiny networks, 2 steps, CPU;
# ACCELERATOR=cpu: the real sizes and weights on the CPU (a rehearsal of everything but the GPU).
set -euo pipefail
OUT=${OUT:?set OUT to the folder that receives the weights and the report}
BUNDLE=${BUNDLE:-gpu_bundle}
BUDGET_S=${BUDGET_S:-420}
PY=${PY:-python3}
TINY=${GPU_TRAIN_TINY:-0}
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$OUT" "$WORK/runs"
exec > >(tee -a "$OUT/train.log") 2>&1

for name in shards112 shards224; do
  [ -f "$BUNDLE/$name.tar.gz" ] || { echo "error: $BUNDLE/$name.tar.gz missing (make it with benchmarks/gpu_bundle.py)"; exit 2; }
  tar -xzf "$BUNDLE/$name.tar.gz" -C "$WORK"
done
if ! "$PY" -c "import hydra, webdataset, kornia" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$WORK/site" "$BUNDLE"/wheels/*.whl
  export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1 WANDB_MODE=offline
"$PY" - <<'EOF'
import torch
print("torch", torch.__version__, "| device:", torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU")
EOF

hms() { printf '00:%02d:%02d:%02d' $(($1 / 3600)) $(($1 % 3600 / 60)) $(($1 % 60)); }
TOKENIZER_TIME=$(hms $((BUDGET_S * 4 / 10)))
OTHERS_TIME=$(hms $((BUDGET_S * 6 / 10)))
# The tokenizer and MaskGIT read half-scale photos (112 px), the upscaler whole ones: downscale=1.
common=(logger=csv trainer.enable_progress_bar=false trainer.log_every_n_steps=1 data.downscale=1)
tokenizer=(model=vqvae experiment=gcd_vqvae_v2 model.lit.grid_every_n_steps=0)
maskgit=(model=maskgit experiment=gcd_maskgit_v2 model.lit.grid_every_n_steps=0)
upscaler=(model=upscaler experiment=gcd_upscaler_context)
if [ "$TINY" = 1 ]; then
  common+=(trainer.accelerator=cpu trainer.precision=32-true trainer.max_steps=2 data.num_workers=0
    data.batch_size=2 data.train_samples_per_epoch=4 data.shuffle_buffer=4)
  tokenizer+=(data.crop_size=16 model.lit.net.base_channels=8 model.lit.net.embed_dim=8 model.lit.net.codebook_size=16)
  maskgit+=(data.crop_size=16 model.lit.net.codebook_size=16 model.lit.net.tokens_per_side=4
    model.lit.net.hidden_size=16 model.lit.net.intermediate_size=32 model.lit.net.num_heads=2 model.lit.net.num_layers=1)
  upscaler+=(data.crop_size=32 model.lit.train_crop=16 'model.lit.net.channels=[8,8,8,8]')
else
  common+=(trainer.accelerator=${ACCELERATOR:-gpu} trainer.devices=1 trainer.strategy=auto trainer.precision=bf16-mixed
    data.num_workers=6 data.train_samples_per_epoch=256000 checkpoint_every_n_steps=100000000)
  tokenizer+=(init_weights=skysynth/weights/tokenizer_v2 model.lit.net.base_channels=32 data.batch_size=256)
  maskgit+=(init_weights=skysynth/weights/maskgit_v2_deep model.lit.net.num_layers=4 data.batch_size=256)
  upscaler+=(init_weights=skysynth/weights/upscaler_v2 data.batch_size=64)
fi

train() {  # name, max_time, shards, overrides...
  local name=$1 time=$2 shards=$3 start
  shift 3
  start=$(date +%s)
  echo "== $name: $*"
  "$PY" -m skysynth.train "$@" "${common[@]}" "data.shards=$WORK/$shards" "trainer.max_time=$time" \
    "hydra.run.dir=$WORK/runs/$name" && echo $(($(date +%s) - start)) > "$WORK/runs/$name/wall_s"
}

train tokenizer "$TOKENIZER_TIME" shards112 "${tokenizer[@]}" ${TOKENIZER_ARGS:-}
tokens="model.lit.tokenizer=$WORK/runs/tokenizer/export"
train maskgit "$OTHERS_TIME" shards112 "${maskgit[@]}" "$tokens" ${MASKGIT_ARGS:-} &
maskgit_pid=$!
train upscaler "$OTHERS_TIME" shards224 "${upscaler[@]}" "$tokens" ${UPSCALER_ARGS:-} &
upscaler_pid=$!
status=0
wait $maskgit_pid || status=1
wait $upscaler_pid || status=1
"$PY" benchmarks/gpu_report.py --runs "$WORK/runs" --out "$OUT"
exit $status
