"""skysynth: extend a photo of the sky beyond its borders."""

__version__ = "0.1.0"
__all__ = ["Outpainter"]


def __getattr__(name):
    # Lazy so that `import skysynth` (e.g. in data_prep) does not pull in the networks.
    if name == "Outpainter":
        from skysynth.outpaint.pipeline import Outpainter

        return Outpainter
    raise AttributeError(name)
