"""`python -m edgedepth` runs the `edgedepth` command (what `torchrun -m edgedepth train ...` starts)."""

from .cli import main

main()
