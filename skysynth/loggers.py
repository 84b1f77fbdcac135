"""Loggers from the `logger` config group: wandb (offline unless told otherwise), CSV, TensorBoard."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig


def read_metrics(path: Path) -> tuple[list[str], list[dict]]:
    """Header and rows of a CSV metrics file ([] and [] when there is none)."""
    import csv

    if not path.is_file():
        return [], []
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        return list(reader.fieldnames or []), list(reader)


def keep_metrics_until(path: Path, step: int) -> None:
    """Drop the rows logged at or after `step` (a resumed run logs them again); keep the rest."""
    import csv

    header, rows = read_metrics(path)
    if not header:
        return
    kept = [row for row in rows if not row.get("step") or int(float(row["step"])) < step]
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=header)
        writer.writeheader()
        writer.writerows(kept)
    os.replace(tmp, path)


def _csv_logger(run_dir: Path):
    """Lightning's CSVLogger, except that it appends to an earlier run's metrics.csv (a resumed
    run) instead of deleting it."""
    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.loggers.csv_logs import ExperimentWriter

    class AppendingWriter(ExperimentWriter):
        def _check_log_dir_exists(self) -> None:
            # Start from the earlier header so that rewriting it with new keys keeps old rows.
            self.metrics_keys = read_metrics(Path(self.metrics_file_path))[0]

    class AppendingCSVLogger(CSVLogger):
        @property
        def experiment(self):
            if self._experiment is None:
                self._fs.makedirs(self.root_dir, exist_ok=True)
                self._experiment = AppendingWriter(log_dir=self.log_dir)
            return self._experiment

    return AppendingCSVLogger(save_dir=str(run_dir), name="csv", version="")


def build_loggers(cfg: DictConfig, run_dir: Path) -> list:
    loggers = [_csv_logger(run_dir)]
    kind = cfg.get("kind", "csv")
    if kind == "wandb":
        from lightning.pytorch.loggers import WandbLogger

        mode = cfg.get("mode", "offline")
        # No network is assumed: offline runs can be uploaded later with `wandb sync`.
        os.environ.setdefault("WANDB_MODE", mode)
        loggers.append(
            WandbLogger(
                project=cfg.get("project", "skysynth"),
                save_dir=str(run_dir),
                offline=mode != "online",
                name=cfg.get("name"),
            )
        )
    elif kind == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        try:
            import tensorboard  # noqa: F401
        except ImportError:
            try:
                import tensorboardX  # noqa: F401
            except ImportError:
                raise ValueError(
                    "logger=tensorboard needs tensorboard: pip install -e '.[tensorboard]' (or use logger=csv)"
                ) from None

        loggers.append(TensorBoardLogger(save_dir=str(run_dir), name="tb", version=""))
    elif kind != "csv":
        raise ValueError(f"unknown logger kind {kind!r} (wandb, tensorboard or csv)")
    return loggers
