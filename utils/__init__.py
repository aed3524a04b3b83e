"""Shared code of the matrix-factorization course: data, encoding, training, models, metrics.

Modules: data (MovieLens download, verification, parsing), encode (ids, splits, tensors),
train (the training loop, blend_scan), models (DotProductMF, BiasedMF, RegularizedMF, Blend),
gravity (notebook 06), deep (DeepMF, NeuMF; notebook 07), interpret and embeddings (reading
trained models), metrics, ranking (implicit feedback, notebook 09), plots, device (device
choice, seeding, versions), progress (bars that stay out of stored outputs), synthetic and
lab_loop (timing baselines only), colab (the setup cell's requirements on Colab).
"""

__version__ = "0.1.0"
# The setup cell checks this marker: a `utils` without it is another package of the same name.
COURSE = "mf-course"
