import pytest
import torch

from edgedepth.losses import LossWeights, depth_loss


def test_loss_ignores_invalid_pixels_and_is_zero_on_perfect_prediction():
    gt = torch.rand(2, 1, 16, 16) * 10 + 1
    valid = torch.rand(2, 1, 16, 16) > 0.3
    assert depth_loss(gt.clone(), gt, valid, 80.0).item() == pytest.approx(0.0, abs=1e-6)
    pred = (gt + torch.randn_like(gt)).requires_grad_()
    loss = depth_loss(pred, gt, valid, 80.0)
    loss.backward()
    assert loss.item() > 0
    changed = pred.detach().clone()
    changed[~valid] = 1e6  # garbage where ground truth is invalid
    # the edge term sees pairs of valid pixels only and SSIM is averaged over valid pixels, but SSIM's 3×3
    # window still reads neighbours: L1 and edge terms alone must be exactly blind to invalid pixels
    l1_edge = LossWeights(l1=1.0, edge=1.0, ssim=0.0)
    assert depth_loss(changed, gt, valid, 80.0, l1_edge).item() == pytest.approx(
        depth_loss(pred.detach(), gt, valid, 80.0, l1_edge).item())
    assert torch.isfinite(depth_loss(pred, gt, torch.zeros_like(valid), 80.0))


def test_each_term_can_be_weighted_off():
    gt = torch.rand(1, 1, 8, 8) + 1
    pred = gt + 0.5
    valid = torch.ones_like(gt, dtype=torch.bool)
    only_l1 = depth_loss(pred, gt, valid, 80.0, LossWeights(1, 0, 0)).item()
    assert only_l1 == pytest.approx(float((0.5 / gt).mean()), rel=1e-5)  # relative L1
    assert depth_loss(pred, gt, valid, 80.0, LossWeights(0, 1, 0)).item() == pytest.approx(0.0, abs=1e-6)  # same edges
