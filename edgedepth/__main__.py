"""`python -m edgedepth` runs the `edgedepth` command (what `torchrun -m edgedepth train ...` starts)."""

from .cli import main

if __name__ == "__main__":
    main()
