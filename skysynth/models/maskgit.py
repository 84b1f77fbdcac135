"""MaskGIT token transformer (Chang et al. 2022, https://arxiv.org/abs/2202.04200).

A bidirectional transformer over a window of tokens: masked positions (id = codebook_size)
are predicted from all others. Pure network code: masking and decoding live in
`skysynth.schedulers.masking`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from skysynth.models.pretrained import PretrainedMixin


@dataclass
class MaskGITConfig:
    codebook_size: int = 128
    tokens_per_side: int = 32  # training window; any smaller window also works
    hidden_size: int = 256
    intermediate_size: int = 512
    num_heads: int = 4
    num_layers: int = 8
    dropout: float = 0.1
    # A depthwise 3x3 convolution before each block (conditional position encoding, Chu et al.
    # 2021, https://arxiv.org/abs/2102.10882): a locality prior that lets a small model learn
    # "continue the neighbouring tokens" in minutes instead of hours of CPU training.
    local_mixing: bool = False
    # Cloud types the model can be conditioned on (a learned embedding added to every token);
    # empty = unconditional. Index len(class_names) is "none": the unconditional model.
    class_names: tuple = ()
    # Global context beyond the window: the mean embedding of the picture's known tokens (the
    # input's, from their code shares), projected and added to every token. A window sees 16
    # tokens; the input's tone and cloud type are decided over the whole photo.
    context_codes: bool = False

    @property
    def mask_token_id(self) -> int:
        return self.codebook_size

    @property
    def null_class(self) -> int:
        return len(self.class_names)


class TransformerBlock(nn.Module):
    """Pre-norm block: self-attention (scaled_dot_product_attention) then an MLP."""

    def __init__(self, config: MaskGITConfig):
        super().__init__()
        self.num_heads = config.num_heads
        self.dropout = config.dropout
        self.norm1 = nn.LayerNorm(config.hidden_size)
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.norm2 = nn.LayerNorm(config.hidden_size)
        self.mlp = nn.Sequential(
            nn.Linear(config.hidden_size, config.intermediate_size),
            nn.GELU(),
            nn.Linear(config.intermediate_size, config.hidden_size),
            nn.Dropout(config.dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        x = x + self.proj(attended.transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(self.norm2(x))


class MaskGIT(PretrainedMixin, nn.Module):
    """`forward(tokens (B, h, w) int64, mask id where unknown) -> logits (B, h, w, codebook_size)`."""

    config_class = MaskGITConfig
    model_type = "maskgit"

    def __init__(self, config: MaskGITConfig):
        super().__init__()
        self.config = config
        # The mask token embeds to zero (padding_idx), as in the thesis.
        self.token_embedding = nn.Embedding(
            config.codebook_size + 1, config.hidden_size, padding_idx=config.mask_token_id
        )
        side = config.tokens_per_side
        self.position_embedding = nn.Parameter(torch.randn(1, side, side, config.hidden_size) * 0.02)
        self.blocks = nn.ModuleList(TransformerBlock(config) for _ in range(config.num_layers))
        d = config.hidden_size
        self.local = (
            nn.ModuleList(nn.Conv2d(d, d, 3, padding=1, groups=d) for _ in range(config.num_layers))
            if config.local_mixing
            else None
        )
        self.norm_out = nn.LayerNorm(config.hidden_size)
        self.head = nn.Linear(config.hidden_size, config.codebook_size)
        # Zero-initialised: a conditional model starts as the unconditional one.
        self.class_embedding = None
        if config.class_names:
            self.class_embedding = nn.Embedding(len(config.class_names) + 1, config.hidden_size)
            nn.init.zeros_(self.class_embedding.weight)
        # Zero-initialised too: a model with context starts as the one without.
        self.context_projection = None
        if config.context_codes:
            self.context_projection = nn.Linear(config.hidden_size, config.hidden_size, bias=False)
            nn.init.zeros_(self.context_projection.weight)

    @torch.no_grad()
    def add_conditions_to(self, trained: MaskGIT) -> list[str]:
        """Start this network as `trained`, a network of the same shape without some of this one's
        conditions (class embedding, code context): they start at zero, so this network computes
        exactly what `trained` does until fine-tuning teaches them. Returns the added modules."""
        own, theirs = self.state_dict(), trained.state_dict()
        added = sorted({name.split(".")[0] for name in own if name not in theirs})
        conditions = {"class_embedding", "context_projection"}
        same_shapes = all(name in own and own[name].shape == value.shape for name, value in theirs.items())
        if not added or not set(added) <= conditions or not same_shapes:
            raise ValueError("can add only the class or context condition to a network of the same shape")
        for name, value in theirs.items():
            own[name].copy_(value)
        return added

    @torch.no_grad()
    def grow_from(self, shallower: MaskGIT) -> None:
        """Start this network as `shallower` with blocks appended that compute the identity.

        Depth growth (Net2Net, Chen et al. 2016, https://arxiv.org/abs/1511.05641): the first
        blocks take the trained ones, every extra block's residual outputs (attention projection,
        last MLP layer, local convolution) start at zero, so the grown network computes exactly
        what `shallower` does and training continues from its loss with more capacity.
        """
        ours, theirs = self.config, shallower.config
        own, trained = self.state_dict(), shallower.state_dict()
        new_blocks = {(part, str(i)) for part in ("blocks", "local") for i in range(theirs.num_layers, ours.num_layers)}
        same_shapes = all(name in own and own[name].shape == value.shape for name, value in trained.items())
        only_new = all(name in trained or tuple(name.split(".")[:2]) in new_blocks for name in own)
        if ours.num_layers <= theirs.num_layers or not (same_shapes and only_new):
            raise ValueError(
                f"can grow only to more blocks of the same width ({theirs.num_layers} -> {ours.num_layers} asked)"
            )
        for name, value in trained.items():
            own[name].copy_(value)
        for i in range(theirs.num_layers, ours.num_layers):
            block = self.blocks[i]
            for layer in (block.proj, block.mlp[2]) + ((self.local[i],) if self.local is not None else ()):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(
        self, tokens: torch.Tensor, labels: torch.Tensor | None = None, context: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, h, w) int64 tokens, optional (B,) int64 class indices (`null_class` = none), optional
        (B, codebook_size) float code shares of the known picture (`context_codes`; None = none
        known, zeros) -> (B, h, w, codebook_size) logits."""
        b, h, w = tokens.shape
        side = self.config.tokens_per_side
        if h > side or w > side:
            raise ValueError(f"window {h}x{w} is larger than the trained {side}x{side}")
        x = self.token_embedding(tokens) + self.position_embedding[:, :h, :w]
        if self.class_embedding is not None:
            if labels is None:
                labels = torch.full((b,), self.config.null_class, dtype=torch.long, device=tokens.device)
            x = x + self.class_embedding(labels)[:, None, None, :]
        elif labels is not None:
            raise ValueError("this MaskGIT has no class condition (class_names is empty)")
        if self.context_projection is not None and context is not None:
            # The known tokens' mean embedding: of the tokens' own scale, so that the zero-initialised
            # projection learns at the pace of the rest (code shares are ~1/codebook_size each).
            summary = context.to(x.dtype) @ self.token_embedding.weight[: self.config.codebook_size]
            x = x + self.context_projection(summary)[:, None, None, :]
        elif context is not None:
            raise ValueError("this MaskGIT has no code context (context_codes is false)")
        x = x.view(b, h * w, -1)
        for i, block in enumerate(self.blocks):
            if self.local is not None:
                grid = x.transpose(1, 2).reshape(b, -1, h, w)
                x = x + self.local[i](grid).flatten(2).transpose(1, 2)
            x = block(x)
        return self.head(self.norm_out(x)).view(b, h, w, -1)
