from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from smartmining.errors import SmartMiningError
from smartmining.losses import (
    LossOutput,
    TripletObjective,
    global_loss,
    hinge_triplet_loss,
    ratio_triplet_loss,
    training_error,
    triplet_distances,
)

# Anchor at the origin; d_ap = 0.5 for both triplets; d_an = 0.35 (active) and 1.0 (inactive).
EA = [[0.0, 0.0], [0.0, 0.0]]
EP = [[0.3, 0.4], [0.3, 0.4]]
EN = [[0.0, 0.35], [0.6, 0.8]]


def tensors(dtype=torch.float64, grad=False):
    return [torch.tensor(x, dtype=dtype, requires_grad=grad) for x in (EA, EP, EN)]


def test_triplet_distances_by_hand():
    d_ap, d_an, sq_ap, sq_an = triplet_distances(*tensors())
    assert d_ap.tolist() == pytest.approx([0.5, 0.5])
    assert d_an.tolist() == pytest.approx([0.35, 1.0])
    assert sq_ap.tolist() == pytest.approx([0.25, 0.25])
    assert sq_an.tolist() == pytest.approx([0.1225, 1.0])


def test_triplet_distances_gradient_finite_where_points_coincide():
    ea = torch.tensor([[0.6, 0.8]], requires_grad=True)
    ep = torch.tensor([[0.6, 0.8]], requires_grad=True)
    en = torch.tensor([[1.0, 0.0]], requires_grad=True)
    d_ap, d_an, _, _ = triplet_distances(ea, ep, en)
    (d_ap + d_an).sum().backward()
    assert torch.isfinite(ea.grad).all() and torch.isfinite(ep.grad).all()
    assert ep.grad.abs().sum() == 0  # d_ap has zero gradient at its minimum


def test_ratio_loss_by_hand():
    d_ap, d_an = torch.tensor([0.5, 0.5, 0.1]), torch.tensor([0.35, 1.0, 0.3])
    # 1 - 0.35 / 0.7 = 0.5; 1 - 1.0 / 0.7 < 0 -> 0; 1 - 0.3 / 0.3 = 0: the boundary d_an = d_ap + m is inactive
    assert ratio_triplet_loss(d_ap, d_an, 0.2).tolist() == pytest.approx([0.5, 0.0, 0.0], abs=1e-6)
    # margin 0.5: 1 - 0.35 / 1.0; 1 - 1.0 / 1.0 = 0; 1 - 0.3 / 0.6
    assert ratio_triplet_loss(d_ap, d_an, 0.5).tolist() == pytest.approx([0.65, 0.0, 0.5], abs=1e-6)


def test_hinge_loss_squares_distances():
    d_ap, d_an = torch.tensor([0.5, 0.5]), torch.tensor([0.35, 1.0])
    # 0.25 - 0.1225 + 0.2 = 0.3275; 0.25 - 1 + 0.2 < 0 -> 0
    assert hinge_triplet_loss(d_ap, d_an, 0.2).tolist() == pytest.approx([0.3275, 0.0])


def loop_oracle(ea, ep, en, margin, kind):
    out = []
    for a, p, n in zip(ea.tolist(), ep.tolist(), en.tolist()):
        dap = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, p)))
        dan = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, n)))
        out.append(max(0.0, 1 - dan / (dap + margin)) if kind == "ratio" else max(0.0, dap**2 - dan**2 + margin))
    return out


@pytest.mark.parametrize("kind", ["ratio", "hinge"])
def test_objective_matches_loop_oracle(kind):
    gen = torch.Generator().manual_seed(0)
    ea, ep, en = (torch.nn.functional.normalize(torch.randn(40, 8, generator=gen, dtype=torch.float64), dim=1)
                  for _ in range(3))
    out = TripletObjective(kind, margin=0.3)(ea, ep, en)
    expected = loop_oracle(ea, ep, en, 0.3, kind)
    assert out.per_triplet.tolist() == pytest.approx(expected, abs=1e-9)
    assert out.triplet == pytest.approx(np.mean(expected))
    assert out.active == sum(v > 0 for v in expected)
    assert 0 < out.active < 40  # the sample exercises both sides of the hinge


@pytest.mark.parametrize("kind", ["ratio", "hinge"])
def test_gradients_flow_only_through_active_triplets(kind):
    ea, ep, en = tensors(grad=True)
    out = TripletObjective(kind)(ea, ep, en)
    out.total.backward()
    for grad in (ea.grad, ep.grad, en.grad):
        assert torch.isfinite(grad).all()
        assert grad[0].abs().sum() > 0  # active triplet
        assert grad[1].abs().sum() == 0  # inactive triplet
    assert out.per_triplet.requires_grad is False


def test_ratio_loss_gradient_matches_finite_differences():
    ea, ep, en = (t[:1] for t in tensors(grad=False))
    inputs = [t.clone().requires_grad_(True) for t in (ea, ep, en)]
    assert torch.autograd.gradcheck(lambda a, p, n: TripletObjective("ratio")(a, p, n).total, inputs)


def test_global_loss_by_hand():
    sq_ap, sq_an = torch.tensor([0.4, 0.8]), torch.tensor([1.2, 2.0])
    # d+ = [0.1, 0.2], d- = [0.3, 0.5]: population variances 0.0025 + 0.01; hinge 0.15 - 0.4 + 0.01 < 0
    assert float(global_loss(sq_ap, sq_an)) == pytest.approx(0.0125)
    sq_ap, sq_an = torch.tensor([2.0, 2.4]), torch.tensor([1.6, 2.0])
    # d+ = [0.5, 0.6], d- = [0.4, 0.5]: 0.0025 + 0.0025 + lam * (0.55 - 0.45 + 0.01)
    assert float(global_loss(sq_ap, sq_an, t=0.01, lam=1.0)) == pytest.approx(0.115)
    assert float(global_loss(sq_ap, sq_an, t=0.01, lam=2.0)) == pytest.approx(0.225)
    assert float(global_loss(sq_ap[:1], sq_an[:1])) == pytest.approx(0.11)  # one triplet: variances 0


def test_objective_total_adds_global_term():
    ea, ep, en = tensors()
    plain = TripletObjective("ratio")(ea, ep, en)
    with_global = TripletObjective("ratio", use_global=True, global_t=0.01, global_lambda=1.0)(ea, ep, en)
    assert isinstance(with_global, LossOutput)
    assert plain.global_ == 0.0
    # d+ = [0.0625, 0.0625] (var 0), d- = [0.030625, 0.25]: var 0.01200..., hinge 0.0625 - 0.1403125 + 0.01 < 0
    expected_global = np.var([0.1225 / 4, 1.0 / 4])
    assert with_global.global_ == pytest.approx(expected_global)
    assert float(with_global.total) == pytest.approx(0.25 + expected_global)  # mean J_t = (0.5 + 0) / 2
    assert float(plain.total) == pytest.approx(0.25)
    assert with_global.active == plain.active == 1


def test_unknown_triplet_loss_names_choices():
    with pytest.raises(SmartMiningError, match="ratio, hinge"):
        TripletObjective("lifted")


def test_bad_inputs_raise():
    ea, ep, en = tensors()
    with pytest.raises(SmartMiningError, match="one shape"):
        TripletObjective()(ea, ep[:1], en)
    with pytest.raises(SmartMiningError, match="margin"):
        TripletObjective(margin=0.0)
    with pytest.raises(SmartMiningError, match="sq_ap"):
        global_loss(torch.zeros(0), torch.zeros(0))


def test_training_error_counts_nonzero_losses():
    losses = [0.0, 0.3, 0.0, 1e-9, 2.0]
    assert training_error(np.array(losses)) == pytest.approx(3 / 5)
    assert training_error(torch.tensor(losses)) == pytest.approx(3 / 5)
    assert training_error(np.zeros(4)) == 0.0
    with pytest.raises(SmartMiningError, match="no losses"):
        training_error(np.array([]))
    with pytest.raises(SmartMiningError, match="NaN"):
        training_error(np.array([0.1, np.nan]))
