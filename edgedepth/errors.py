"""Errors the user can cause: one line saying what is wrong and how to fix it, a non-zero exit, no traceback."""

import click


class EdgeDepthError(click.ClickException):
    """A problem with the user's input or environment (missing file, wrong size, runtime not installed)."""


class RuntimeMissing(EdgeDepthError):
    """An optional runtime (openvino, onnxruntime, tensorrt, CUDA) is not usable on this machine."""
