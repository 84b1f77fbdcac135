"""The patch-adversarial term that the tokenizer and the upscaler share (VQGAN, Esser et al. 2021).

A patch discriminator with its own optimizer, stepped inside `training_step` (the model keeps
Lightning's automatic optimization), a hinge loss for the model, switched on after `start_step`
steps, and VQGAN's adaptive weight. `model.lit.adversarial.*` = `AdversarialConfig` (each
model's yaml sets its own values).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from skysynth.models.discriminator import (
    PatchDiscriminator,
    PatchDiscriminatorConfig,
    hinge_discriminator_loss,
    hinge_generator_loss,
)


@dataclass
class AdversarialConfig:
    weight: float = 0.0  # 0 = no adversarial term
    start_step: int = 0  # steps of the model's own loss alone first (the discriminator's warm-up)
    adaptive: bool = False
    lr: float = 1e-4  # the discriminator's
    discriminator: PatchDiscriminatorConfig = field(default_factory=PatchDiscriminatorConfig)

    @classmethod
    def from_dict(cls, values: dict) -> AdversarialConfig:
        values = dict(values)
        _known_keys_only(values, cls, "model.lit.adversarial")
        discriminator = values.get("discriminator", {})
        _known_keys_only(discriminator, PatchDiscriminatorConfig, "model.lit.adversarial.discriminator")
        values["discriminator"] = PatchDiscriminatorConfig(**discriminator)
        return cls(**values)


def _known_keys_only(values: dict, config_class, name: str) -> None:
    unknown = sorted(set(values) - set(config_class.__dataclass_fields__))
    if unknown:
        raise ValueError(f"{name}: unknown key(s) {', '.join(unknown)}")


class AdversarialMixin:
    """Mix into a SkyLitModule before it: `class XLit(AdversarialMixin, SkyLitModule)`."""

    def init_adversarial(self, adversarial: dict) -> None:
        config = AdversarialConfig.from_dict(adversarial)
        self.adversarial_weight = float(config.weight)
        self.adversarial_start = int(config.start_step)
        # VQGAN's adaptive weight: the hinge loss scaled so that its gradient at the model's last
        # layer is as large as the reconstruction loss's, times `weight`; a fixed weight lets the
        # adversarial term outgrow the reconstruction as the discriminator sharpens.
        self.adversarial_adaptive = bool(config.adaptive)
        self.discriminator = None
        if self.adversarial_weight > 0:
            self.discriminator = PatchDiscriminator(config.discriminator)
            self.discriminator_optimizer = torch.optim.AdamW(
                self.discriminator.parameters(), lr=float(config.lr), betas=(0.5, 0.9)
            )

    @property
    def adversarial_active(self) -> bool:
        return self.discriminator is not None and self.global_step >= self.adversarial_start

    def adversarial_loss(
        self, real: torch.Tensor, fake: torch.Tensor, reconstruction_loss: torch.Tensor, last_layer: torch.Tensor
    ) -> torch.Tensor:
        """weight x scale x hinge loss of `fake` (B, 3, H, W in [0, 1]), after one discriminator
        update on `real` against `fake`; scale = the adaptive weight at `last_layer` or 1."""
        g_loss = self._adversarial_step(real, fake)
        scale = self.adaptive_scale(reconstruction_loss, g_loss, last_layer) if self.adversarial_adaptive else 1.0
        return self.adversarial_weight * scale * g_loss

    def _adversarial_step(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """One discriminator update on this batch, then the model's hinge loss (returned)."""
        optimizer = self.discriminator_optimizer
        optimizer.zero_grad(set_to_none=True)  # also drops what the last model loss left here
        d_loss = hinge_discriminator_loss(self.discriminator(real), self.discriminator(fake.detach()))
        d_loss.backward()
        if self.trainer.world_size > 1:
            for p in self.discriminator.parameters():
                if p.grad is not None:
                    p.grad = self.trainer.strategy.reduce(p.grad, reduce_op="mean")
        optimizer.step()
        g_loss = hinge_generator_loss(self.discriminator(fake))
        self.log_dict({"train/d_loss": d_loss.detach(), "train/g_loss": g_loss.detach()}, sync_dist=True)
        return g_loss

    def adaptive_scale(
        self, reconstruction_loss: torch.Tensor, generator_loss: torch.Tensor, last_layer: torch.Tensor
    ) -> torch.Tensor:
        """||d rec / d W|| / ||d adv / d W|| at the last layer's weight W (detached, <= 1e4)."""
        rec_grad = torch.autograd.grad(reconstruction_loss, last_layer, retain_graph=True)[0]
        adv_grad = torch.autograd.grad(generator_loss, last_layer, retain_graph=True)[0]
        scale = (rec_grad.norm() / (adv_grad.norm() + 1e-4)).clamp(0.0, 1e4).detach()
        self.log("train/adversarial_scale", scale, sync_dist=True)
        return scale

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        if self.discriminator is not None:
            checkpoint["discriminator_optimizer"] = self.discriminator_optimizer.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        if self.discriminator is not None and "discriminator_optimizer" in checkpoint:
            self.discriminator_optimizer.load_state_dict(checkpoint["discriminator_optimizer"])
