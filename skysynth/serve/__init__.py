"""Local web page: drop a sky photo, watch it grow, download it (`python -m skysynth.serve`)."""
