"""Adapters that give any network the one output contract of the project: N×1×H×W depth in metres."""

from __future__ import annotations

import torch
from torch import nn


class DepthNet(nn.Module):
    """Wraps a torchvision segmentation model so forward returns the N×1×H×W depth tensor."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)["out"]
