"""The evaluation stage: a run's checkpoint (or an untrained baseline) over a test shard.

``measure`` runs the model on every test image (whole or tiled), computes the configured metrics
per image and keeps fixed crops for comparison grids.
"""
