"""Training loss: masked L1 + L1 on depth edges + SSIM, the combination of DenseDepth-style regressors.

The L1 term is relative (|pred − gt| / gt, the AbsRel of the batch): a metre matters more at 2 m than at 60 m,
and indoor and outdoor scenes weigh alike. The edge and SSIM terms work on depth divided by the checkpoint's
max_depth, so every term is unitless. Invalid pixels never contribute: L1 averages over valid pixels only, the edge term over pixel pairs
whose both ends are valid, and SSIM's map (computed with invalid ground truth replaced by the detached
prediction, so they carry no signal) is averaged over valid pixels only.

Defaults (l1=1.0, edge=1.0, ssim=1.0): the relative L1 anchors the scale, the edge and SSIM terms (as in
DenseDepth, Alhashim & Wonka 2018) sharpen boundaries and structure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossWeights:
    l1: float = 1.0
    edge: float = 1.0
    ssim: float = 1.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def depth_loss(
    pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor, max_depth: float, weights: LossWeights = LossWeights()
) -> torch.Tensor:
    """pred, gt: N×1×H×W metres; valid: N×1×H×W bool. Returns the weighted scalar loss."""
    valid = valid.bool()
    if not valid.any():
        return pred.sum() * 0.0  # a batch with no valid pixel teaches nothing (keeps the graph alive)
    p, g = pred / max_depth, gt / max_depth
    total = weights.l1 * ((p - g).abs() / g.clamp_min(1e-6))[valid].mean()
    if weights.edge:
        total = total + weights.edge * _edge_l1(p, g, valid)
    if weights.ssim:
        g_filled = torch.where(valid, g, p.detach())
        total = total + weights.ssim * ((1 - _ssim_map(p, g_filled)) / 2)[valid].mean()
    return total


def _edge_l1(p: torch.Tensor, g: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    terms = []
    for dim in (2, 3):
        n = p.shape[dim] - 1
        both = valid.narrow(dim, 0, n) & valid.narrow(dim, 1, n)
        if both.any():
            dp = p.narrow(dim, 1, n) - p.narrow(dim, 0, n)
            dg = g.narrow(dim, 1, n) - g.narrow(dim, 0, n)
            terms.append((dp - dg).abs()[both].mean())
    return torch.stack(terms).mean() if terms else p.sum() * 0.0


def _ssim_map(x: torch.Tensor, y: torch.Tensor, c1: float = 0.01**2, c2: float = 0.03**2) -> torch.Tensor:
    """Per-pixel SSIM with a 3×3 mean window (reflect-padded, same size as the input)."""
    pad = lambda t: F.pad(t, (1, 1, 1, 1), mode="reflect")  # noqa: E731
    mu_x, mu_y = F.avg_pool2d(pad(x), 3, 1), F.avg_pool2d(pad(y), 3, 1)
    sxx = F.avg_pool2d(pad(x * x), 3, 1) - mu_x**2
    syy = F.avg_pool2d(pad(y * y), 3, 1) - mu_y**2
    sxy = F.avg_pool2d(pad(x * y), 3, 1) - mu_x * mu_y
    ssim = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))
    return ssim.clamp(-1, 1)
