"""The evaluation stage: a run's checkpoint (or an untrained baseline) over a test shard.

``measure`` runs the model on every test image (whole or tiled), computes the configured metrics
per image and keeps fixed crops for comparison grids. ``upscale`` runs a finished run's model the
same way on a user's image files (``srloss upscale``); ``compare`` puts one image's outputs of
several runs side by side (``srloss compare``).
"""
