"""The reference models' dropout (benchmark/models/dropout.py): on the CPU, masks of its own,
which must keep torch's contract."""

from __future__ import annotations

import torch

from benchmark.models.dropout import Dropout


def test_cpu_dropout_keeps_its_share_in_expectation_and_its_seed() -> None:
    """The reference models' CPU dropout (16-bit draws keyed by torch's generator) drops a
    share ``p`` of the elements, keeps the mean, passes the gradient through the same mask,
    repeats its masks under a seed, and keeps the input's dtype."""
    drop = Dropout(0.1)
    x = torch.ones(1000, 1000, requires_grad=True)
    torch.manual_seed(0)
    y = drop(x)
    kept = (y != 0).double().mean().item()
    assert abs(kept - 0.9) < 0.002  # 1e6 draws: the standard error is 3e-4
    assert abs(y.double().mean().item() - 1.0) < 0.003
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # d(x * mask)/dx is the mask
    torch.manual_seed(0)
    assert torch.equal(drop(x), y)
    assert not torch.equal(drop(x), y)  # the next draw of the generator, another mask
    assert drop(torch.ones(8, 4, dtype=torch.bfloat16)).dtype == torch.bfloat16
    assert drop(torch.ones(0, 4)).shape == (0, 4)
    assert Dropout(1.0)(x).count_nonzero() == 0
    assert Dropout(1 - 1e-7)(x).isfinite().all()  # rounds to 65,535 of 65,536 dropped
    drop.eval()
    assert torch.equal(drop(x), x)
