from skysynth.schedulers.masking import MaskGITSampler, MaskSchedule, outpaint_masks
from skysynth.schedulers.noise import CosineNoiseSchedule

__all__ = ["CosineNoiseSchedule", "MaskGITSampler", "MaskSchedule", "outpaint_masks"]
