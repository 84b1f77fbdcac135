"""Discover frames of a webcam archive (or a folder of photos) and write its manifest.

Layouts: `<root>/<location>/<day>/<time>.jpg` (the institute's) and flat `<root>/<location>/*.jpg`.
A folder with images directly inside it counts as one location.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

from data_prep.errors import PrepError
from skysynth.common.images import is_image

_DAY = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")
_TIME = re.compile(r"(?<!\d)(\d{2})[-_:]?(\d{2})(?:[-_:]?(\d{2}))?(?!\d)")


@dataclass(frozen=True)
class Frame:
    location: str
    time: dt.datetime | None
    path: Path

    @property
    def day(self) -> str | None:
        return self.time.date().isoformat() if self.time else None


def parse_time(path: Path) -> dt.datetime | None:
    """Timestamp from `<day>/<time>.jpg` or a `YYYYMMDD_HHMM`-like file name; None when absent."""
    text = f"{path.parent.name}/{path.stem}"
    day = _DAY.search(text)
    if not day:
        return None
    rest = text[day.end() :]
    clock = _TIME.search(rest)
    try:
        date = dt.date(*(int(g) for g in day.groups()))
        if not clock:
            return dt.datetime.combine(date, dt.time())
        hour, minute, second = int(clock[1]), int(clock[2]), int(clock[3] or 0)
        return dt.datetime.combine(date, dt.time(hour, minute, second))
    except ValueError:
        return None


def _frame_time(path: Path) -> dt.datetime:
    parsed = parse_time(path)
    return parsed if parsed else dt.datetime.fromtimestamp(path.stat().st_mtime)


def _images_in(folder: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        found += [Path(dirpath) / f for f in sorted(filenames) if is_image(Path(f))]
    return found


def discover(root: str | os.PathLike, locations: list[str] | None = None) -> list[Frame]:
    """All frames under `root`, sorted by location then time. Raises PrepError on bad input."""
    root = Path(root)
    if not root.exists():
        raise PrepError(f"archive not found: {root}")
    if not root.is_dir():
        raise PrepError(f"archive is not a folder: {root}")
    direct = [p for p in sorted(root.iterdir()) if p.is_file() and is_image(p)]
    groups: dict[str, list[Path]] = {}
    if direct:
        groups[root.name] = direct
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        images = _images_in(sub)
        if images:
            groups[sub.name] = images
    if locations:
        missing = [name for name in locations if name not in groups]
        if missing:
            raise PrepError(f"no frames for location(s) {', '.join(missing)} in {root}")
        groups = {name: groups[name] for name in locations}
    if not groups:
        raise PrepError(f"no images found in {root}")
    frames = [Frame(name, _frame_time(p), p) for name, paths in groups.items() for p in paths]
    return sorted(frames, key=lambda f: (f.location, f.time or dt.datetime.min, str(f.path)))


def looks_like_archive(frames: list[Frame]) -> bool:
    """Most paths carry a timestamp (`<day>/<time>.jpg`): a webcam archive, not a photo folder."""
    return bool(frames) and sum(parse_time(f.path) is not None for f in frames) >= 0.5 * len(frames)


def write_manifest(path: Path, rows: list[dict]) -> None:
    """CSV with columns location, time, path, size, status (atomic write)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["location", "time", "path", "size", "status"])
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
