"""LightningModule of MaskGIT: tokens from the frozen tokenizer, outpainting masks, NLL loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric

from skysynth.common.cloud_types import UNKNOWN
from skysynth.lit.base import SkyLitModule, to_plain
from skysynth.lit.tokenizer import load_frozen_tokenizer
from skysynth.models.maskgit import MaskGIT, MaskGITConfig
from skysynth.models.pretrained import build_config
from skysynth.schedulers.masking import (
    MASK_NAMES,
    MaskGITSampler,
    MaskSchedule,
    known_code_shares,
    outpaint_masks,
)


class MaskGITLit(SkyLitModule):
    model_type = "maskgit"

    def __init__(
        self,
        net: dict,
        optim: dict,
        tokenizer: str | None = None,
        grid_every_n_steps: int = 500,
        seed: int = 0,
        label_dropout: float = 0.15,
        context_dropout: float = 0.1,
    ):
        net, optim = to_plain(net), to_plain(optim)
        super().__init__(optim, grid_every_n_steps, seed)
        self.save_hyperparameters()
        self.net = MaskGIT(build_config(MaskGITConfig, net))
        self.tokenizer = load_frozen_tokenizer(tokenizer)
        if self.tokenizer.config.codebook_size != self.net.config.codebook_size:
            raise ValueError(
                f"tokenizer has {self.tokenizer.config.codebook_size} codes, "
                f"MaskGIT expects {self.net.config.codebook_size}"
            )
        self.schedule = MaskSchedule()
        self.val_accuracy = torch.nn.ModuleList(MeanMetric() for _ in MASK_NAMES)
        self.val_nll = torch.nn.ModuleList(MeanMetric() for _ in MASK_NAMES)

    def state_dict(self, *args, **kwargs):
        # The tokenizer is an input, not a trained part: keep it out of checkpoints.
        state = super().state_dict(*args, **kwargs)
        return {k: v for k, v in state.items() if not k.startswith("tokenizer.")}

    def load_state_dict(self, state_dict, strict: bool = True, **kwargs):
        return super().load_state_dict(state_dict, strict=False, **kwargs)

    def tokens_of(self, images: torch.Tensor) -> torch.Tensor:
        return self.tokenizer.encode(images)

    def labels_of(self, batch: dict, drop: bool) -> torch.Tensor | None:
        """(B,) class indices of the batch's cloud types (None for an unconditional model);
        unknown types, and a random `label_dropout` share when training, become "none"."""
        names = self.net.config.class_names
        if not names:
            return None
        null = self.net.config.null_class
        index = {name: i for i, name in enumerate(names)}
        names_of_batch = batch.get("label") or [UNKNOWN] * len(batch["image"])
        labels = torch.tensor([index.get(name, null) for name in names_of_batch], dtype=torch.long)
        labels = labels.to(batch["image"].device)
        if drop and self.hparams.label_dropout > 0:
            # One model for both uses: some samples train the unconditional ("none") case.
            chance = torch.rand(len(labels), generator=self.step_generator("labels"), device=labels.device)
            labels = labels.masked_fill(chance < self.hparams.label_dropout, null)
        return labels

    def _loss(
        self,
        tokens: torch.Tensor,
        mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
    ):
        inputs = tokens.masked_fill(mask, self.net.config.mask_token_id)
        logits = self.net(inputs, labels, context)
        nll = F.cross_entropy(logits[mask], tokens[mask])
        return logits, nll

    def window_side(self, pictures: torch.Tensor) -> int:
        """Side of the windows cut from (B, H, W) tokens: the trained window, or less for smaller pictures."""
        return min(self.net.config.tokens_per_side, pictures.shape[1], pictures.shape[2])

    def windows_of(self, tokens: torch.Tensor, tops: torch.Tensor, lefts: torch.Tensor) -> torch.Tensor:
        """(B, H, W) tokens of whole pictures -> (B, side, side) windows at (tops, lefts)."""
        side = self.window_side(tokens)
        return torch.stack([t[y : y + side, x : x + side] for t, y, x in zip(tokens, tops.tolist(), lefts.tolist())])

    def context_of(self, tokens, tops, lefts, kinds, drop: bool) -> torch.Tensor | None:
        """(B, codebook) code context of each window (None for a model without it); a random
        `context_dropout` share trains the no-context case (zeros) when training."""
        if not self.net.config.context_codes:
            return None
        context = known_code_shares(tokens, tops, lefts, kinds, self.window_side(tokens), self.net.config.codebook_size)
        if drop and self.hparams.context_dropout > 0:
            chance = torch.rand(len(context), generator=self.step_generator("context"), device=context.device)
            context = context * (chance >= self.hparams.context_dropout)[:, None].float()
        return context

    def training_step(self, batch, batch_idx):
        pictures = self.tokens_of(batch["image"])
        b, height, width = pictures.shape
        side = self.window_side(pictures)
        # Pictures larger than the window: one random window of each, the rest its context.
        g = self.step_generator("window")
        tops = torch.randint(0, height - side + 1, (b,), generator=g)
        lefts = torch.randint(0, width - side + 1, (b,), generator=g)
        tokens = self.windows_of(pictures, tops, lefts)
        mask, kinds = self.schedule.training_mask(b, side, side, self.step_generator("mask"), device=tokens.device)
        context = self.context_of(pictures, tops, lefts, kinds, drop=True)
        logits, loss = self._loss(tokens, mask, self.labels_of(batch, drop=True), context)
        accuracy = (logits.argmax(-1)[mask] == tokens[mask]).float().mean()
        self.log_dict({"train/loss": loss, "train/accuracy": accuracy}, prog_bar=True, sync_dist=True)
        return loss

    def validation_step(self, batch, batch_idx):
        pictures = self.tokens_of(batch["image"])
        b, height, width = pictures.shape
        side = self.window_side(pictures)
        tops = torch.full((b,), (height - side) // 2)
        lefts = torch.full((b,), (width - side) // 2)
        tokens = self.windows_of(pictures, tops, lefts)
        # Every mask type on every validation window (the centre one), fully masked: the outpainting case.
        for kind, region in enumerate(outpaint_masks(side, side).to(tokens.device)):
            mask = region.expand(b, side, side)
            context = self.context_of(pictures, tops, lefts, torch.full((b,), kind), drop=False)
            logits, nll = self._loss(tokens, mask, self.labels_of(batch, drop=False), context)
            self.val_nll[kind].update(nll)
            self.val_accuracy[kind].update((logits.argmax(-1)[mask] == tokens[mask]).float().mean())
        if batch_idx == 0 and self.trainer.is_global_zero:
            self._sample_grid(tokens[:4])

    def _sample_grid(self, tokens: torch.Tensor) -> None:
        sampler = MaskGITSampler(decode_steps=8)
        region = outpaint_masks(*tokens.shape[1:]).to(tokens.device)[0].expand_as(tokens)
        generated = sampler.sample(self.net, tokens, region, self.step_generator("grid"))
        self.maybe_save_grid([self.tokenizer.decode(tokens), self.tokenizer.decode(generated)], "val_right_half")

    def on_validation_epoch_end(self):
        for kind, name in enumerate(MASK_NAMES):
            self.log(f"val/accuracy_{name}", self.val_accuracy[kind].compute())
            self.log(f"val/nll_{name}", self.val_nll[kind].compute())
            self.val_accuracy[kind].reset()
            self.val_nll[kind].reset()
