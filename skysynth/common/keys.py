"""Sample keys of the shards, and the validation split that a hash of the key decides.

One definition for the data preparation (which writes the keys), the DataModule (which splits
by them) and the evaluation (which finds the same validation photos in a photo folder)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sample_key(location: str, path: Path, index: int) -> str:
    """WebDataset key of crop `index` of frame `path` at `location` (no dots: webdataset splits
    extensions at the first dot)."""
    stem = f"{location}__{path.parent.name}__{path.stem}__{index}"
    return stem.replace(".", "_").replace("/", "_")


def is_validation(key: str, fraction: float) -> bool:
    """Deterministic split: a key is in validation when its hash falls below `fraction`."""
    bucket = int.from_bytes(hashlib.md5(key.encode()).digest()[:4], "little") / 2**32
    return bucket < fraction
