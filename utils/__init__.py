"""Shared code of the matrix-factorization course: data, encoding, training, metrics, plots.

Modules: data (MovieLens download, verification, parsing), encode (ids, splits, tensors),
train (the training loop), metrics, plots, device (device choice, seeding, versions),
progress (progress bars that stay out of stored outputs).
"""

__version__ = "0.1.0"
