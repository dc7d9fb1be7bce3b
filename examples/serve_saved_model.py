"""Serving an exported model with TensorFlow alone (tf_smvae is not imported).

python examples/serve_saved_model.py --saved_model=runs/quickstart/export
"""

import argparse
import sys

import numpy as np
import tensorflow as tf


def main(saved_model):
    loaded = tf.saved_model.load(saved_model)
    seed = tf.constant([0, 1])
    images = loaded.sample(tf.constant(16), seed)  # [16, 28, 28, 1] Bernoulli means
    print("samples:", images.shape)

    x = tf.cast(images > 0.5, tf.float32)  # any binary images of the training shape
    posterior = loaded.encode(x)  # {"loc", "scale"} of q(z | x)
    print("latent loc:", posterior["loc"].shape)
    print("reconstruction:", loaded.decode(posterior["loc"]).shape)
    log_px = loaded.log_likelihood(x, tf.constant(10), seed)["log_likelihood"]
    print("mean log p(x):", float(np.mean(log_px)))
    assert "tf_smvae" not in sys.modules


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saved_model", required=True, help="folder written by export")
    main(parser.parse_args().saved_model)
