"""Training: config -> data + model -> fit -> workdir; callbacks and checkpoints."""

from tf_smvae.training.builders import build_datasets
from tf_smvae.training.builders import build_model
from tf_smvae.training.train_lib import load_config
from tf_smvae.training.train_lib import restore_model
from tf_smvae.training.train_lib import run
from tf_smvae.training.validation import validate_config

__all__ = [
    "build_datasets",
    "build_model",
    "load_config",
    "restore_model",
    "run",
    "validate_config",
]
