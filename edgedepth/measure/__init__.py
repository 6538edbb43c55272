"""Measuring a model: the held-out set, one compare function, timing and memory, and `evaluate_model`.

Every distance between two outputs (parity, fidelity, deltas, sensitivity) and every metric against ground
truth is defined here once; a model is scored once per run, whoever asks.
"""
