"""Benchmarks: `catdog-bench` times the exported models side by side with the Keras baseline."""
