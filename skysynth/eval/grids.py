"""Image grids: rows of (B, 3, H, W) tensors in [0, 1] -> one PNG."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def grid_array(rows: list[torch.Tensor], pad: int = 2) -> np.ndarray:
    """Stack rows (each (B, 3, H, W), same B) into one (H', W', 3) uint8 array, white gaps."""
    height = max(r.shape[-2] for r in rows)
    width = max(r.shape[-1] for r in rows)
    tiles = []
    for row in rows:
        row = row.detach().float().cpu().clamp(0, 1)
        row = F.pad(row, (0, width - row.shape[-1], 0, height - row.shape[-2]), value=1.0)
        row = F.pad(row, (pad, pad, pad, pad), value=1.0)
        tiles.append(torch.cat(list(row), dim=-1))
    grid = torch.cat(tiles, dim=-2)
    return (grid.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def save_grid(rows: list[torch.Tensor], path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(grid_array(rows)).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path
