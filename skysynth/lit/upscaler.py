"""LightningModule of the diffusion upscaler: target = sharp - bicubic(tokenizer round trip)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics.image import PeakSignalNoiseRatio

from skysynth.common.degrade import blurry_version, detail_band
from skysynth.lit.adversarial import AdversarialMixin
from skysynth.lit.base import SkyLitModule, to_plain
from skysynth.lit.tokenizer import load_frozen_tokenizer
from skysynth.models.pretrained import build_config
from skysynth.models.upscaler import UNet, UpscalerConfig
from skysynth.schedulers.noise import CosineNoiseSchedule, sample_detail


class UpscalerLit(AdversarialMixin, SkyLitModule):
    model_type = "upscaler"

    def __init__(
        self,
        net: dict,
        optim: dict,
        tokenizer: str | None = None,
        val_steps: int = 8,
        loss: str = "l1",
        train_crop: int | None = None,
        grid_every_n_steps: int = 500,
        seed: int = 0,
        adversarial: dict | None = None,
        adversarial_input: str = "image",
    ):
        net, optim, adversarial = to_plain(net), to_plain(optim), to_plain(adversarial) or {}
        super().__init__(optim, grid_every_n_steps, seed)
        self.save_hyperparameters()
        if loss not in ("l1", "mse"):
            raise ValueError(f"model.lit.loss must be l1 or mse, got {loss}")
        # mse makes the one-step clean estimate the conditional mean of the detail (the PSNR
        # optimum); l1 (the thesis) its median.
        self.loss_fn = F.mse_loss if loss == "mse" else F.l1_loss
        self.net = UNet(build_config(UpscalerConfig, net))
        m = self.net.config.multiple
        if train_crop is not None and (int(train_crop) < m or int(train_crop) % m):
            raise ValueError(f"model.lit.train_crop must be a positive multiple of {m}, got {train_crop}")
        c = self.net.config
        self.schedule = CosineNoiseSchedule(c.min_signal_rate, c.max_signal_rate)
        self.tokenizer = load_frozen_tokenizer(tokenizer)
        # Patch-adversarial loss on the one-step sample from pure noise (skysynth/lit/adversarial.py),
        # whose estimate the diffusion loss alone makes the conditional mean of the detail (smooth);
        # the discriminator asks for detail that looks like a photo's instead.
        self.init_adversarial(adversarial)
        # What the discriminator compares: whole images, or only the band a 2x downscale loses
        # (the tokenizer's colour and shape errors, which the upscaler is not there to fix,
        # then cannot give a fake away).
        if adversarial_input not in ("image", "detail"):
            raise ValueError(f"model.lit.adversarial_input must be image or detail, got {adversarial_input}")
        self.val_psnr = PeakSignalNoiseRatio(data_range=1.0)
        self.val_psnr_bicubic = PeakSignalNoiseRatio(data_range=1.0)

    def state_dict(self, *args, **kwargs):
        state = super().state_dict(*args, **kwargs)
        return {k: v for k, v in state.items() if not k.startswith("tokenizer.")}

    def load_state_dict(self, state_dict, strict: bool = True, **kwargs):
        return super().load_state_dict(state_dict, strict=False, **kwargs)

    def training_step(self, batch, batch_idx):
        sharp = batch["image"]
        blurry = blurry_version(self.tokenizer, sharp, self.net.config.scale_factor)
        generator = self.step_generator("noise")
        if self.hparams.train_crop is not None:
            sharp, blurry = self._random_window(sharp, blurry, int(self.hparams.train_crop), generator)
        edges = (sharp - blurry) * self.net.config.edge_scale
        noise = torch.randn(edges.shape, generator=generator, device=edges.device)
        t = torch.rand(edges.shape[0], generator=generator, device=edges.device)
        noisy = self.schedule.add_noise(edges, noise, t)
        _, noise_rate = self.schedule.rates(t)
        target = self.net.training_target(edges, noise, noise_rate)
        loss = self.loss_fn(self.net(noisy, blurry, noise_rate), target)
        self.log("train/loss", loss, prog_bar=True, sync_dist=True)
        if self.adversarial_active:
            detail = self.one_step_detail(blurry, generator)
            real, fake = sharp, blurry.float() + detail / self.net.config.edge_scale
            # The one-step sample's own reconstruction loss, in the detail's units: the diffusion
            # loss spreads over all noise levels, and alone it left the adversarial term free to
            # move the sample's colours (RESULTS.md, upscaler); the adaptive weight balances the two.
            anchor = self.loss_fn(detail, edges)
            self.log("train/one_step_loss", anchor.detach(), sync_dist=True)
            if self.hparams.adversarial_input == "detail":
                real, fake = self.detail_image(real), self.detail_image(fake)
            loss = loss + anchor + self.adversarial_loss(real, fake, anchor, self.net.conv_out.weight)
        return loss

    def detail_image(self, images: torch.Tensor) -> torch.Tensor:
        """The detail band of `images` as an image around 0.5, at the U-Net's own edge scale."""
        c = self.net.config
        return 0.5 + 0.5 * c.edge_scale * detail_band(images, c.scale_factor)

    def one_step_detail(self, blurry: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The pipeline's one-step detail for `blurry` (B, 3, H, W), with gradients: the clean
        estimate from pure noise (t = 1), x `edge_scale`, as `sample_detail` with one step."""
        noise = torch.randn(blurry.shape, generator=generator, device=blurry.device)
        _, noise_rate = self.schedule.rates(torch.ones(blurry.shape[0], device=blurry.device))
        return self.net.predict_clean(noise, blurry, noise_rate)

    @staticmethod
    def _random_window(sharp, blurry, size: int, generator: torch.Generator):
        """One random `size` window per batch of both images. The tokenizer round trip is made on
        the whole crop first: its errors depend on how much context it saw (a 48-px round trip
        has far more border error than the pipeline's large decoder windows), and a U-Net trained
        on small round trips learns to undo errors that large inputs do not have (RESULTS.md)."""
        h, w = sharp.shape[-2:]
        if size > min(h, w):
            raise ValueError(f"model.lit.train_crop={size} is larger than the data crop {h}x{w}")
        top = int(torch.randint(0, h - size + 1, (1,), generator=generator, device=sharp.device))
        left = int(torch.randint(0, w - size + 1, (1,), generator=generator, device=sharp.device))
        window = (..., slice(top, top + size), slice(left, left + size))
        return sharp[window], blurry[window]

    def upscale(self, blurry: torch.Tensor, steps: int, generator: torch.Generator) -> torch.Tensor:
        edges = sample_detail(self.net, blurry, steps, generator)
        return (blurry + edges / self.net.config.edge_scale).clamp(0, 1)

    def validation_step(self, batch, batch_idx):
        sharp = batch["image"]
        blurry = blurry_version(self.tokenizer, sharp, self.net.config.scale_factor)
        # The sampler in fp32 even when training runs under bf16 autocast: in bf16 its few-step
        # estimate of the detail comes out near zero, and validation would read bicubic's PSNR.
        with torch.autocast(sharp.device.type, enabled=False):
            restored = self.upscale(blurry.float(), self.hparams.val_steps, self.step_generator(f"val{batch_idx}"))
        self.val_psnr.update(restored, sharp)
        self.val_psnr_bicubic.update(blurry, sharp)
        if batch_idx == 0:
            self.maybe_save_grid([sharp[:6], blurry[:6], restored[:6]], "val_upscale")

    def on_validation_epoch_end(self):
        self.log_dict(
            {"val/psnr": self.val_psnr.compute(), "val/psnr_bicubic": self.val_psnr_bicubic.compute()}, prog_bar=True
        )
        self.val_psnr.reset()
        self.val_psnr_bicubic.reset()
