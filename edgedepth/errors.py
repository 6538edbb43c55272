"""Errors the user can cause: one line saying what is wrong and how to fix it, a non-zero exit, no traceback.

The library raises them; only the CLI turns them into a printed line and an exit code, so the library
knows nothing of click and reads the same from Python.
"""


class EdgeDepthError(Exception):
    """A problem with the user's input or environment (missing file, wrong size, runtime not installed)."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class RuntimeMissing(EdgeDepthError):
    """An optional runtime (openvino, onnxruntime, tensorrt, CUDA) is not usable on this machine."""


def first_line(exc: BaseException) -> str:
    """A third-party exception as one short line, to quote inside an EdgeDepthError message."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]
