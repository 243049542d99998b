"""An array stand-in that records its reads, for checking that a streamed fit reads in chunks."""

from __future__ import annotations

import numpy as np


class RowsRead:
    """A 2-D array that records how many rows each read takes."""

    def __init__(self, array: np.ndarray) -> None:
        self.array, self.ndim, self.shape, self.dtype = array, 2, array.shape, array.dtype
        self.reads: list[int] = []

    def __getitem__(self, rows: slice) -> np.ndarray:
        block = self.array[rows]
        self.reads.append(block.shape[0])
        return block
