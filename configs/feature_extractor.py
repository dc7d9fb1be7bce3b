r"""The classifier whose features replace InceptionV3's for KID (no ImageNet weights offline).

    python bin/train_feature_extractor.py --config=configs/feature_extractor.py \
      --out=runs/extractor_fashion_mnist --config.dataset.name=fashion_mnist

Writes extractor.keras and extractor.json (test accuracy, feature layer); pass the .keras
file to `bin/evaluate.py --kid --feature_extractor=...`. The validation split for early
stopping is taken from the training split; the test split is only used for the accuracy.
"""

import ml_collections
from ml_collections import config_dict


def get_config():
    """Returns the feature-extractor config."""
    config = ml_collections.ConfigDict()
    config.seed = 0

    config.dataset = ml_collections.ConfigDict()
    config.dataset.name = "fashion_mnist"
    config.dataset.data_dir = config_dict.placeholder(str)
    config.dataset.image_size = config_dict.placeholder(int)  # must match the VAE's data
    config.dataset.num_train_examples = config_dict.placeholder(int)  # None: the whole split
    config.dataset.num_test_examples = config_dict.placeholder(int)

    config.model = ml_collections.ConfigDict()
    config.model.feature_dim = 128  # width of the "features" layer (the KID features)
    config.model.filters = (32, 64)  # one block of two 3x3 convs + max-pool per entry
    config.model.dropout_rate = 0.3

    config.train = ml_collections.ConfigDict()
    config.train.epochs = 15
    config.train.batch_size = 128
    config.train.learning_rate = 1e-3
    config.train.validation_fraction = 0.1  # held out from the TRAIN split for early stopping
    config.train.patience = 3  # epochs without a better validation loss before stopping
    config.train.jit_compile = True
    config.train.verbose = 2  # Keras output: 0 silent, 1 bar, 2 one line per epoch
    return config
