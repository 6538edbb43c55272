"""Adapters that give any network the one output contract of the project: N×1×H×W depth in metres."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class DepthNet(nn.Module):
    """Wraps a torchvision segmentation model so forward returns the N×1×H×W depth tensor."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)["out"]


class DepthOutput(nn.Module):
    """Wraps a network of the user's so forward returns N×1×H×W: `key` picks one output of a tuple (an index)
    or dict (a key); `add_channel` gives an N×H×W map its channel axis. Both are settled once, when the source
    is resolved, so torch.fx and export trace straight through. Export traces it into the ONNX: the exported
    model has the one depth output every runtime and the C runtime expect."""

    def __init__(self, net: nn.Module, key: Any = None, add_channel: bool = False):
        super().__init__()
        self.net = net
        self.key = key
        self.add_channel = add_channel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = self.net(x)
        if self.key is not None:
            output = output[self.key]
        return output.unsqueeze(1) if self.add_channel else output
