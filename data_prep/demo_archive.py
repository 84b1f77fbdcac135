"""Write a small synthetic webcam archive so a new user can try the whole pipeline.

    python -m data_prep.demo_archive out=DIR [locations=3] [frames=120] [width=800] [height=600]

Layout: <out>/<location>/<YYYY-MM-DD>/<HHMM>.jpg, plus <out>/_truth/<location>_mask.png.
"""

from __future__ import annotations

from skysynth.common.startup import quiet_start

with quiet_start(__name__):
    from pathlib import Path

    import hydra
    import numpy as np
    from omegaconf import DictConfig
    from PIL import Image
    from tqdm import tqdm

    from data_prep.errors import PrepError, exit_on_user_error
    from data_prep.synthetic import SyntheticWebcam, save_frame


def write_archive(
    out: Path, locations: int, frames: int, width: int, height: int, seed: int = 0, progress: bool = True
) -> list[SyntheticWebcam]:
    if locations < 1 or frames < 1:
        raise PrepError("locations and frames must be at least 1")
    if width < 64 or height < 48:
        raise PrepError("width and height must be at least 64x48")
    cams = []
    truth = out / "_truth"
    truth.mkdir(parents=True, exist_ok=True)
    with tqdm(total=locations * frames, desc="demo archive", unit="frame", disable=not progress) as bar:
        for index in range(locations):
            cam = SyntheticWebcam(seed=seed * 1000 + index, width=width, height=height)
            name = f"cam{index:02d}"
            for i in range(frames):
                when = cam.time_of(i)
                folder = out / name / when.date().isoformat()
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"{when:%H%M}.jpg"
                if not path.exists():
                    tmp = folder / f".{when:%H%M}.tmp.jpg"
                    save_frame(cam.frame(i), tmp)
                    tmp.replace(path)
                bar.update(1)
            Image.fromarray((cam.sky_mask * 255).astype(np.uint8)).save(truth / f"{name}_mask.png")
            cams.append(cam)
    return cams


@hydra.main(version_base="1.3", config_path="../conf/prep", config_name="demo_archive")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    write_archive(
        Path(cfg.out),
        int(cfg.locations),
        int(cfg.frames),
        int(cfg.width),
        int(cfg.height),
        int(cfg.seed),
        bool(cfg.progress),
    )
    print(f"demo archive: {cfg.out}")


if __name__ == "__main__":
    main()
