"""Small helpers shared across layers (models, training, inference, evaluation, data preparation)."""
