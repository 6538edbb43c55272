"""edgedepth: monocular depth models made fast on edge hardware, with the accuracy cost measured.

Importing the package stays light: runtimes (onnxruntime, openvino, tensorrt) are imported only by the
backend that needs them.
"""

__version__ = "0.1.0"
