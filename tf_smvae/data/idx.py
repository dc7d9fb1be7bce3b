"""Reader for the IDX format of MNIST and Fashion-MNIST (plain or gzip-compressed).

The IDX header is four bytes, `0x00 0x00 <type> <ndim>`, followed by `ndim` big-endian
uint32 sizes and the row-major data, big-endian. See http://yann.lecun.com/exdb/mnist/.
"""

import gzip

import numpy as np

from tf_smvae.util.errors import DataError

__all__ = [
    "read_idx",
]

_GZIP_MAGIC = b"\x1f\x8b"

# IDX type byte -> big-endian numpy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path):
    """Returns the decompressed bytes of `path` (gzip is detected from its magic bytes)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == _GZIP_MAGIC:
            return gzip.decompress(raw)
        return raw
    except (OSError, EOFError) as e:
        raise DataError(f"Cannot read IDX file {path}: {e}") from None


def _parse_header(raw, path):
    """Parses the IDX header of `raw`; returns (dtype, shape, data offset)."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(
            f"{path} is not an IDX file: bad magic number {raw[:4].hex() or '(empty file)'} "
            f"(expected 0000 followed by a type byte and the number of dimensions)."
        )
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_DTYPES:
        raise DataError(f"{path}: unknown IDX data type byte 0x{type_code:02x}.")
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions.")
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes, need {offset}).")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    return _IDX_DTYPES[type_code], shape, offset


def read_idx(path, expected_ndim=None):
    """Reads one IDX file into a numpy array in native byte order.

    Args:
      path: path of an IDX file, plain or gzip-compressed (detected from the content,
        not the file name).
      expected_ndim: if given, the number of dimensions the file must have (3 for
        `*-images-idx3-ubyte`, 1 for `*-labels-idx1-ubyte`).

    Returns:
      A numpy array with the file's shape and dtype (uint8 for MNIST-style files).

    Raises:
      DataError: naming `path`, if the file cannot be read, has a bad magic number or
        type byte, the wrong number of dimensions, or a data size that does not match
        its header.

    #### Examples

    ```python
    images = read_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", 3)
    images.shape  # (10000, 28, 28)
    ```
    """
    raw = _read_bytes(path)
    dtype, shape, offset = _parse_header(raw, path)
    if expected_ndim is not None and len(shape) != expected_ndim:
        raise DataError(
            f"{path}: expected an IDX file with {expected_ndim} dimensions, found "
            f"{len(shape)} (shape {shape})."
        )
    count = int(np.prod(shape))
    expected_bytes = offset + count * dtype.itemsize
    if len(raw) != expected_bytes:
        raise DataError(
            f"{path}: IDX header declares shape {shape} ({expected_bytes} bytes in all) but "
            f"the file holds {len(raw)} bytes."
        )
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
    return data.reshape(shape).astype(dtype.newbyteorder("="))
