"""The seed's transfer objective: L_S, L_O (an L2 norm, not its square), batched."""
import math

import pytest
import torch

from live.transfer.objective import origin_loss, semantic_loss, transfer_loss


def test_semantic_loss_is_one_minus_cosine_per_sample():
    f_m = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    f_i = torch.tensor([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]])
    assert semantic_loss(f_i, f_m).tolist() == pytest.approx([0.0, 1.0, 2.0])


def test_origin_loss_is_the_l2_norm_over_all_layers():
    w_o = torch.zeros(2, 3, 4)
    w_m = torch.zeros(2, 3, 4)
    w_m[0, 0, 0], w_m[0, 2, 1] = 3.0, 4.0
    w_m[1] = 1.0
    assert origin_loss(w_m, w_o).tolist() == pytest.approx([5.0, math.sqrt(12)])


def test_total_weighs_origin_by_a_lambda_per_sample():
    f = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    w_o = torch.zeros(2, 1, 2)
    w_m = torch.tensor([[[3.0, 4.0]], [[0.0, 2.0]]])
    loss = transfer_loss(torch.tensor([[0.0, 1.0], [0.0, 1.0]]), f, w_m, w_o, torch.tensor([0.1, 2.0]))
    assert loss.semantic.tolist() == pytest.approx([1.0, 0.0])
    assert loss.total.tolist() == pytest.approx([1.0 + 0.1 * 5.0, 0.0 + 2.0 * 2.0])
    assert transfer_loss(f, f, w_m, w_o, 0.5).total.tolist() == pytest.approx([2.5, 1.0])


def test_gradient_at_the_source_is_finite():
    w_m = torch.zeros(1, 2, 3, requires_grad=True)
    origin_loss(w_m, torch.zeros(1, 2, 3)).sum().backward()
    assert torch.isfinite(w_m.grad).all()
