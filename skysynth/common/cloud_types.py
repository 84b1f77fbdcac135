"""The cloud types a sky can be grown as: the GCD photos' seven classes, by one name each."""

from __future__ import annotations

import re

CLOUD_TYPES = ("cumulus", "altocumulus", "cirrus", "clearsky", "stratocumulus", "cumulonimbus", "mixed")
UNKNOWN = "unknown"  # webcam frames and other sources without a label


def cloud_type_of(name: str) -> str:
    """A source folder's name ("1_cumulus", "4_clearsky", "Cirrus") -> its cloud type, or "unknown"."""
    cleaned = re.sub(r"^\d+[_\- ]*", "", name.strip().lower()).replace(" ", "").replace("_", "")
    return cleaned if cleaned in CLOUD_TYPES else UNKNOWN
