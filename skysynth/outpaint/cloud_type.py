"""Which cloud type a call grows: a name, the input's own type, or none (unconditional)."""

from __future__ import annotations

import torch

from skysynth.common.cloud_types import cloud_type_of
from skysynth.models.classifier import CloudClassifier


class CloudTypeError(ValueError):
    """A cloud type that the loaded weights cannot grow (one line)."""


def is_named(cloud_type: str) -> bool:
    """A type asked for by name (not "auto" or "none"): the draws are steered towards it."""
    return cloud_type not in ("auto", "none")


def check_cloud_type(cloud_type: str, class_names: tuple) -> None:
    """Refuse, before any work, a named type that weights growing `class_names` cannot grow."""
    if not is_named(cloud_type):
        return
    if not class_names:
        raise CloudTypeError(
            f"cloud_type={cloud_type} needs a class-conditional MaskGIT, a token classifier or a token prior;"
            " the loaded weights have none of these (use auto or none)"
        )
    if cloud_type not in class_names:
        raise CloudTypeError(f"these weights grow {', '.join(class_names)}; not {cloud_type!r}")


@torch.no_grad()
def resolve_cloud_type(
    cloud_type: str, class_names: tuple, classifier: CloudClassifier | None, image: torch.Tensor
) -> str | None:
    """The cloud type grown for `cloud_type` (a name, "auto" or "none"), one of `class_names`
    (what the weights can grow); None = unconditional. `image` (1, 3, H, W) in [0, 1] is the
    input, which "auto" classifies; weights that grow no type, or come without a classifier, grow
    "auto" as "none" and refuse a named type."""
    if cloud_type == "none" or (cloud_type == "auto" and (not class_names or classifier is None)):
        return None
    if cloud_type == "auto":
        scores = classifier(image.to(next(classifier.parameters()).device).float())[0]
        cloud_type = cloud_type_of(classifier.config.class_names[int(scores.argmax())])
    check_cloud_type(cloud_type, class_names)
    return cloud_type
