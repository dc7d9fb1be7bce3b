"""Small datasets written to tmp_path for the data tests."""

import numpy as np
import pytest


@pytest.fixture
def grey_npz(tmp_path):
    """A .npz file of 50 uint8 grey 8x6 images with smooth grey levels and labels 0..4.

    Returns:
      (path, images uint8 [50, 8, 6], labels [50]).
    """
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(50, 8, 6), dtype=np.uint8)
    labels = np.arange(50) % 5
    path = str(tmp_path / "grey.npz")
    np.savez(path, x=images, y=labels)
    return path, images, labels
