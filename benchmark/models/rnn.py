"""Bidirectional GRU encoder for variable misuse, the GREAT study's RNN baseline, in plain
PyTorch.

    python -m benchmark.models.rnn --input IN_DIR --output OUT_DIR

The tokens of each function form one sequence, read left to right and right to left; a token's
state is the two directions' outputs side by side (``hidden / 2`` each), fed to the shared
two-pointer head (varmisuse.py). Sequences are packed, so padding never enters a state.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from benchmark.models import varmisuse
from benchmark.models.packed import GraphBatch
from benchmark.models.varmisuse import VarMisuseModel, with_shared

# Per-profile defaults (the shared ones in varmisuse.py); task.json's ``hyperparameters``
# override any of them. ``paper`` follows the GREAT study's RNN (2 bidirectional GRU layers,
# 512 wide); ``cpu`` is one layer of width 64. The RNN reads no edges.
DEFAULTS = with_shared({
    "smoke": {"hidden": 16, "layers": 1, "reverse_edges": False},
    "cpu": {"hidden": 64, "layers": 1, "reverse_edges": False},
    "paper": {"hidden": 512, "layers": 2, "reverse_edges": False},
})  # fmt: skip


class BiRNN(nn.Module):
    """Maps token states [N, hidden] of a batch of functions to new token states with a
    bidirectional GRU over each function's tokens."""

    def __init__(self, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        if hidden % 2:
            raise ValueError(f"hidden {hidden} is not even (half of it runs each way)")
        self.gru = nn.GRU(
            hidden,
            hidden // 2,
            num_layers=layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.norm = nn.LayerNorm(hidden)

    def forward(self, h: Tensor, batch: GraphBatch) -> Tensor:
        x, _ = batch.dense(h)
        packed = pack_padded_sequence(x, batch.lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        return self.norm(batch.nodes(out))


class RNNVarMisuse(VarMisuseModel):
    """Sub-token embedding -> bidirectional GRU -> two-pointer head."""

    def __init__(self, vocab_size: int, num_edge_types: int, hp: dict) -> None:
        hidden, dropout = int(hp["hidden"]), float(hp["dropout"])
        super().__init__(vocab_size, hidden, BiRNN(hidden, int(hp["layers"]), dropout), dropout)


def main(argv: Sequence[str] | None = None) -> int:
    return varmisuse.main("rnn", DEFAULTS, RNNVarMisuse, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
