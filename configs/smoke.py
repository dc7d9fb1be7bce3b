r"""A seconds-long run on a small slice of Fashion-MNIST, used by the tests.

python bin/train.py --config=configs/smoke.py --workdir=/tmp/smoke
"""

from configs import base


def get_config():
    """Returns the smoke config."""
    config = base.get_config()
    config.dataset.num_train_examples = 200
    config.dataset.num_test_examples = 100
    config.model.hidden_units = (32, 32)
    config.model.latent_dim = 4
    config.train.epochs = 2
    config.train.batch_size = 50
    config.train.checkpoint_every_steps = 3
    config.train.num_sample_images = 16
    config.train.verbose = 0
    config.eval.num_samples = 50
    config.eval.num_examples = 100
    return config
