"""Fit the naive-Bayes token prior that steers cloud-type control (sampling.type_prior).

    python -m skysynth.eval.fit_token_prior data=../shared/data/gcd/train out=skysynth/weights/token_prior

Photos of `data/<class>/*.jpg` outside the validation split (the shards' key split) are tokenized
by the tokenizer of `weights` (default: the bundled set) at the scale the pipeline tokenizes them,
and their codes counted per cloud type. Validation: how often the prior alone names the type of
a validation photo (all its codes), and of a MaskGIT-sized window of it, from the codes. Writes
fp16 safetensors + config.json and `metrics.json`; a few minutes on a CPU, most of it tokenizing.
"""

from __future__ import annotations

import time
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig

from skysynth.eval.train_classifier import run_training, save_with_metrics
from skysynth.eval.train_token_classifier import guide_inputs, tokenize
from skysynth.models.token_prior import TokenPriorConfig, TokenTypePrior


def fit(cfg: DictConfig) -> dict:
    tokenizer, maskgit, images, labels, val, classes = guide_inputs(cfg)
    window = maskgit.config.tokens_per_side
    start = time.perf_counter()
    tokens = tokenize(tokenizer, images, progress=cfg.progress)
    codes = tokenizer.config.codebook_size
    counts = torch.zeros(len(classes), codes, dtype=torch.float64)
    for label in range(len(classes)):
        counts[label] = torch.bincount(tokens[(labels == label) & ~val].flatten(), minlength=codes).double()
    if not (counts.sum(1) > 0).all():
        empty = [name for name, n in zip(classes, counts.sum(1).tolist()) if n == 0]
        raise ValueError(f"no training photo of {', '.join(empty)} in {cfg.data}")
    prior = TokenTypePrior(TokenPriorConfig(codes, classes, cfg.smoothing)).fit(counts)
    side = min(window, tokens.shape[1], tokens.shape[2])

    def accuracy(windows: torch.Tensor) -> float:
        return float((prior(windows).argmax(-1) == labels[val]).float().mean()) if val.any() else float("nan")

    metrics = {
        "val_photo_accuracy": accuracy(tokens[val]),
        "val_window_accuracy": accuracy(tokens[val][:, :side, :side]),
        "window_tokens": side,
        "val_images": int(val.sum()),
        "train_images": int((~val).sum()),
        "classes": list(classes),
        "train_codes_per_class": counts.sum(1).long().tolist(),
        "wall_seconds": time.perf_counter() - start,
    }
    return save_with_metrics(prior, Path(cfg.out), metrics)


@hydra.main(version_base="1.3", config_path="../../conf/eval", config_name="token_prior")
def main(cfg: DictConfig) -> None:
    run_training(fit, cfg, "token_prior")


if __name__ == "__main__":
    main()
