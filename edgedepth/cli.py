"""The `edgedepth` command: one thin click command per step; the work lives in the modules."""

from __future__ import annotations

import click

from . import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edgedepth")
def main() -> None:
    """Make a monocular depth model fast on edge hardware, and measure what it cost in accuracy.

    \b
    The path:  train → export (verified ONNX) → quantize (Q/DQ INT8) → build (engine) → bench
    Try it:    edgedepth demo      (synthetic data, no downloads, a few minutes on 2 cores)
    """
