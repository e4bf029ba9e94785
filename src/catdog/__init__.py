"""catdog: train, quantize and run a tiny cats-vs-dogs CNN on the edge.

The subpackages are `catdog.train` and `catdog.export` (which need the `[train]` extra),
`catdog.runtime` (numpy, pillow and an inference engine only) and `catdog.bench`.
"""

__version__ = "0.1.0"
