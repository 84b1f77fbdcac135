"""Data preparation: webcam archives and photo folders -> sky masks -> filtered WebDataset shards."""
