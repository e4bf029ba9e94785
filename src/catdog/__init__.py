"""catdog: train, quantize and run small Keras image classifiers on the edge (shipped default: cats vs dogs).

The subpackages are `catdog.train` and `catdog.export` (which need the `[train]` extra),
`catdog.runtime` (numpy, pillow and an inference engine only) and `catdog.measure`.
"""

__version__ = "0.1.0"
