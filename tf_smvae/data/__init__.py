"""Datasets as `tf.data` pipelines scaled for a decoder likelihood (DESIGN section 7).

`load(name, split, ...)` returns batches of float32 images [B, H, W, C]; `load_arrays`
returns the raw numpy arrays; `info` the image shape, classes and splits. Sources are
looked up by name in the `SOURCES` registry; likelihood scalings in `LIKELIHOODS` and
`BINARIZATIONS`.
"""

# Importing the source modules registers their datasets in SOURCES.
import tf_smvae.data.idx_sources  # noqa: F401
import tf_smvae.data.image_folder  # noqa: F401
import tf_smvae.data.npz  # noqa: F401
import tf_smvae.data.tfds_sources  # noqa: F401
from tf_smvae.data import linear_gaussian  # registers linear_gaussian*
from tf_smvae.data.checks import check_dataset_spec
from tf_smvae.data.checks import check_model_input
from tf_smvae.data.idx import read_idx
from tf_smvae.data.pipeline import info
from tf_smvae.data.pipeline import load
from tf_smvae.data.pipeline import load_arrays
from tf_smvae.data.scaling import BINARIZATIONS
from tf_smvae.data.scaling import LIKELIHOODS
from tf_smvae.data.sources import SOURCES
from tf_smvae.data.sources import DatasetInfo
from tf_smvae.data.sources import source_names

__all__ = [
    "BINARIZATIONS",
    "LIKELIHOODS",
    "SOURCES",
    "DatasetInfo",
    "check_dataset_spec",
    "check_model_input",
    "info",
    "linear_gaussian",
    "load",
    "load_arrays",
    "read_idx",
    "source_names",
]
