"""Pack what `benchmarks/gpu_train.sh` needs on a lent GPU machine that reaches no network.

    .venv/bin/python benchmarks/gpu_bundle.py [--photos ../shared/data/gcd/train] [--out gpu_bundle]
        [--every 4] [--no-wheels]

Writes to --out (git-ignored; never commit it: the photos are for research use):
- `shards112.tar.gz`: shards of every photo at half scale (112 px), for the tokenizer and MaskGIT;
- `shards224.tar.gz`: shards of every --every-th photo of each folder at full size, for the upscaler
  (whole 224-px photos do not all fit in the machine's 64 MiB working-tree limit);
- `wheels/`: the packages the machine's image lacks (hydra-core, omegaconf, antlr4, webdataset,
  braceexpand, kornia, kornia_rs), for its Python 3.12, fetched from PyPI here.
Then checks that the repository's tracked files and the bundle together stay under the limit.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LIMIT_MIB = 64  # the device machine's working-tree limit (tracked files + carried paths)
WHEELS = [
    "hydra-core==1.3.8",
    "omegaconf==2.3.1",
    "webdataset==1.0.2",
    "braceexpand==0.1.7",
    "kornia==0.9.0",
    "kornia_rs==0.2.0",
]
SDISTS = ["antlr4-python3-runtime==4.9.3"]  # no wheel on PyPI: built here (pure Python)
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]


def make_shards(source: Path, out: Path, downscale: int, quality: int) -> dict:
    from omegaconf import OmegaConf

    from data_prep import shards

    cfg = OmegaConf.load(ROOT / "conf/prep/shards.yaml")
    cfg.pop("defaults"), cfg.pop("hydra")
    cfg.source, cfg.out, cfg.downscale, cfg.quality, cfg.progress = str(source), str(out), downscale, quality, False
    return shards.run(cfg)


def every_nth(photos: Path, into: Path, every: int) -> int:
    """Copies of every `every`-th photo of each class folder of `photos` in `into`; how many."""
    count = 0
    for folder in sorted(p for p in photos.iterdir() if p.is_dir()):
        (into / folder.name).mkdir(parents=True)
        for path in sorted(folder.iterdir())[::every]:
            shutil.copyfile(path, into / folder.name / path.name)  # links resolve back to the source
            count += 1
    return count


def pack(folder: Path, archive: Path) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=archive.name.split(".")[0])


def fetch_wheels(into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    pip = [sys.executable, "-m", "pip"]
    common = ["-q", "--no-deps", "-d", str(into)]
    subprocess.run(
        [*pip, "download", *common, "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp"]
        + platforms
        + WHEELS,
        check=True,
    )
    with tempfile.TemporaryDirectory() as sdists:
        subprocess.run([*pip, "download", *common[:2], "-d", sdists, "--no-binary=:all:", *SDISTS], check=True)
        for sdist in Path(sdists).iterdir():
            subprocess.run([*pip, "wheel", "-q", "--no-deps", "-w", str(into), str(sdist)], check=True)


def tracked_bytes() -> int:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return sum((ROOT / n).stat().st_size for n in names.decode().split("\0") if n and (ROOT / n).is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", default=str(ROOT.parent / "shared" / "data" / "gcd" / "train"))
    parser.add_argument("--out", default=str(ROOT / "gpu_bundle"))
    parser.add_argument("--every", type=int, default=4, help="full-size shards keep every N-th photo")
    parser.add_argument("--quality", type=int, default=92, help="JPEG quality of the shards")
    parser.add_argument("--no-wheels", action="store_true", help="skip the wheels (a machine that has the packages)")
    args = parser.parse_args()
    photos, out = Path(args.photos), Path(args.out)
    if not photos.is_dir():
        sys.exit(f"error: --photos: {photos} is not a folder")
    if args.every < 1 or not 1 <= args.quality <= 100:
        sys.exit("error: --every must be >= 1 and --quality from 1 to 100")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        half = make_shards(photos, scratch / "shards112", 2, args.quality)
        pack(scratch / "shards112", out / "shards112.tar.gz.part")
        subset = every_nth(photos, scratch / "subset", args.every)
        full = make_shards(scratch / "subset", scratch / "shards224", 1, args.quality)
        pack(scratch / "shards224", out / "shards224.tar.gz.part")
    for name in ("shards112", "shards224"):
        (out / f"{name}.tar.gz.part").rename(out / f"{name}.tar.gz")
    if not args.no_wheels:
        shutil.rmtree(out / "wheels", ignore_errors=True)
        fetch_wheels(out / "wheels")
    bundle = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    total = (bundle + tracked_bytes()) / 2**20
    half_kept, full_kept = half["counts"]["crops_kept"], full["counts"]["crops_kept"]
    print(f"112-px shards: {half_kept} photos; 224-px shards: {full_kept} of {subset}")
    print(f"bundle {bundle / 2**20:.1f} MiB + tracked files = {total:.1f} MiB (limit {LIMIT_MIB} MiB): {out}")
    if total > LIMIT_MIB:
        sys.exit(f"error: {total:.1f} MiB would not travel to the device machine; raise --every")


if __name__ == "__main__":
    main()
