"""Dropout for the reference models, with a CPU mask faster than torch's."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn


class Dropout(nn.Dropout):
    """nn.Dropout with a faster CPU mask: 16-bit draws of numpy's SFC64, keyed by one draw of
    torch's generator. torch's CPU kernels draw each element from a Mersenne Twister in turn:
    0.67 ms for a [3658, 64] mask against 0.17 ms this way; 5% of a ggnn epoch at ``cpu``
    against 2%, and code2vec's epochs at ``cpu`` run 1.14-1.26x as fast. The key comes from
    torch's generator, so a seed gives the same masks and a checkpoint's RNG state resumes
    them. An element is kept when its draw is at least ``round(p * 2**16)`` and scaled by the
    inverse of that chance, so the expectation is exact. Other devices keep torch's kernel."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p in (0, 1) or x.device.type != "cpu":
            return super().forward(x)
        dropped = min(round(self.p * 65536), 65535)  # p to the nearest 2**-16, below 1
        key = int(torch.randint(0, 2**62, (1,)))
        draws = np.random.SFC64(key).random_raw((x.numel() + 3) // 4).view(np.uint16)
        mask = (draws[: x.numel()] >= dropped) * np.float32(65536 / (65536 - dropped))
        return x * torch.from_numpy(mask).view(x.shape).to(x.dtype)
