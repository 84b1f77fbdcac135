"""LightningModule of the tokenizer: losses, dead-code restart, PSNR/SSIM/codebook metrics."""

from __future__ import annotations

import torch
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from skysynth.common.codebook import CodebookUsage
from skysynth.lit.adversarial import AdversarialMixin
from skysynth.lit.base import SkyLitModule, to_plain
from skysynth.models.pretrained import build_config
from skysynth.models.vqvae import VQVAE, VQVAEConfig, ema_codebook, kmeans


class VQVAELit(AdversarialMixin, SkyLitModule):
    model_type = "vqvae"

    def __init__(
        self,
        net: dict,
        optim: dict,
        dead_code_restart: bool = True,
        usage_decay: float = 0.99,
        dead_threshold: float = 0.03,
        ema_decay: float = 0.99,
        kmeans_init: bool = False,
        kmeans_iterations: int = 10,
        grid_every_n_steps: int = 500,
        seed: int = 0,
        adversarial: dict | None = None,
        decoder_only: bool = False,
    ):
        net, optim, adversarial = to_plain(net), to_plain(optim), to_plain(adversarial) or {}
        super().__init__(optim, grid_every_n_steps, seed)
        self.save_hyperparameters()
        self.net = VQVAE(build_config(VQVAEConfig, net))
        size = self.net.config.codebook_size
        # Running share of each code among tokens; codes far below uniform are "dead".
        self.register_buffer("usage_ema", torch.full((size,), 1.0 / size))
        # EMA codebook statistics (codebook_update=ema) and whether k-means has run: buffers, so
        # they travel in checkpoints and a resumed run continues exactly.
        dim = self.net.config.embed_dim
        self.register_buffer("ema_cluster_size", torch.zeros(size))
        self.register_buffer("ema_embed_sum", torch.zeros(size, dim))
        self.register_buffer("codebook_initialised", torch.tensor(not kmeans_init))
        if self.net.config.codebook_update == "ema":
            self.net.quantizer.codebook.requires_grad_(False)
        # The decoder alone (VQGAN's second stage): encoder and codebook frozen, so every photo keeps
        # its tokens and a MaskGIT trained on them stays valid.
        if decoder_only and kmeans_init:
            raise ValueError("model.lit.decoder_only keeps the codebook: it cannot take model.lit.kmeans_init")
        if decoder_only:
            self.net.encoder.requires_grad_(False)
            self.net.quantizer.requires_grad_(False)
        # Patch-adversarial loss (VQGAN): a hinge loss from a patch discriminator, after
        # `start_step` steps of reconstruction alone (skysynth/lit/adversarial.py).
        self.init_adversarial(adversarial)
        self.val_psnr = PeakSignalNoiseRatio(data_range=1.0)
        self.val_ssim = StructuralSimilarityIndexMeasure(data_range=1.0)
        self.val_codes = CodebookUsage(size)

    def training_step(self, batch, batch_idx):
        images = batch["image"]
        if not bool(self.codebook_initialised):
            self._kmeans_init(images)
        out = self.net(images)
        if self.adversarial_active:
            last_layer = self.net.decoder.conv_out.weight
            out["loss"] = out["loss"] + self.adversarial_loss(images, out["reconstruction"], out["loss"], last_layer)
        self.log_dict(
            {f"train/{k}": out[k] for k in ("loss", "mse", "codebook_loss", "commitment_loss", "revival_loss")},
            prog_bar=False,
            sync_dist=True,
        )
        self.log("train/psnr", -10 * torch.log10(out["mse"].detach().clamp_min(1e-10)), prog_bar=True, sync_dist=True)
        if not self.hparams.decoder_only:  # the decoder alone moves no code: no EMA update, no restart
            if self.net.config.codebook_update == "ema":
                self._ema_update(out["tokens"], out["latents"])
            self._track_usage(out["tokens"], out["latents"])
        if self.grid_every_n_steps and self.global_step % self.grid_every_n_steps == 0:
            self.maybe_save_grid([images[:8], out["reconstruction"][:8]], "train_reconstruction")
        return out["loss"]

    @torch.no_grad()
    def _kmeans_init(self, images: torch.Tensor) -> None:
        """Codebook = k-means centroids of the first batch's encoder outputs (rank 0 for all)."""
        quantizer = self.net.quantizer
        latents = self.net.encoder(images)
        flat = quantizer._lookup_space(latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1]))
        size, iterations = quantizer.codebook.shape[0], self.hparams.kmeans_iterations
        codebook = kmeans(flat, size, iterations, self.step_generator("kmeans"))
        codebook = self.trainer.strategy.broadcast(codebook.to(quantizer.codebook.dtype), src=0)
        quantizer.codebook.data.copy_(codebook)
        self.ema_embed_sum.copy_(codebook)
        self.ema_cluster_size.fill_(1.0)
        self.codebook_initialised.fill_(True)

    @torch.no_grad()
    def _ema_update(self, tokens: torch.Tensor, latents: torch.Tensor) -> None:
        """Move each code toward the mean of the encoder outputs assigned to it (all ranks' sums)."""
        quantizer = self.net.quantizer
        flat = quantizer._lookup_space(latents)
        indices = tokens.flatten()
        counts = torch.bincount(indices, minlength=quantizer.codebook.shape[0]).to(flat.dtype)
        sums = torch.zeros_like(quantizer.codebook).index_add_(0, indices, flat.to(quantizer.codebook.dtype))
        counts = self.trainer.strategy.reduce(counts, reduce_op="sum")
        sums = self.trainer.strategy.reduce(sums, reduce_op="sum")
        if not bool(self.ema_cluster_size.any()):
            # First EMA step without k-means: start the statistics from the current codes.
            self.ema_embed_sum.copy_(quantizer.codebook.data)
            self.ema_cluster_size.fill_(1.0)
        codebook = ema_codebook(self.ema_cluster_size, self.ema_embed_sum, counts, sums, self.hparams.ema_decay)
        quantizer.codebook.data.copy_(codebook)

    @torch.no_grad()
    def _track_usage(self, tokens: torch.Tensor, latents: torch.Tensor) -> None:
        size = self.net.config.codebook_size
        counts = torch.bincount(tokens.flatten(), minlength=size).float()
        counts = self.trainer.strategy.reduce(counts, reduce_op="sum")
        self.usage_ema.mul_(self.hparams.usage_decay).add_((1 - self.hparams.usage_decay) * counts / counts.sum())
        self.log("train/live_codes", (self.usage_ema > self.hparams.dead_threshold / size).float().mean())
        if not self.hparams.dead_code_restart:
            return
        dead = self.usage_ema < self.hparams.dead_threshold / size
        if not dead.any():
            return
        # Restart dead codes at random encoder outputs of this batch; rank 0 decides for all.
        generator = self.step_generator("restart")
        picks = torch.randint(0, latents.shape[0], (int(dead.sum()),), generator=generator, device=latents.device)
        codebook = self.net.quantizer.codebook.data.clone()
        codebook[dead] = latents[picks].to(codebook.dtype)
        codebook = self.trainer.strategy.broadcast(codebook, src=0)
        self.net.quantizer.codebook.data.copy_(codebook)
        if self.net.config.codebook_update == "ema":
            # The EMA statistics must agree with the restarted codes, or the next step undoes it.
            self.ema_cluster_size[dead] = 1.0
            self.ema_embed_sum[dead] = codebook[dead]
        self.usage_ema[dead] = 1.0 / size

    def validation_step(self, batch, batch_idx):
        images = batch["image"]
        out = self.net(images)
        reconstruction = out["reconstruction"].clamp(0, 1)
        self.val_psnr.update(reconstruction, images)
        self.val_ssim.update(reconstruction, images)
        self.val_codes.update(out["tokens"])
        self.log("val/loss", out["loss"], sync_dist=True)
        if batch_idx == 0:
            self.maybe_save_grid([images[:8], reconstruction[:8]], "val_reconstruction")

    def on_validation_epoch_end(self):
        codes = self.val_codes.compute()
        self.log_dict(
            {
                "val/psnr": self.val_psnr.compute(),
                "val/ssim": self.val_ssim.compute(),
                "val/codebook_usage": codes["usage"].float(),
                "val/perplexity": codes["perplexity"].float(),
            },
            prog_bar=True,
        )
        for metric in (self.val_psnr, self.val_ssim, self.val_codes):
            metric.reset()
