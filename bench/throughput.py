r"""Training throughput of tf_smvae's VAE against a minimal hand-written Keras VAE.

    python bench/throughput.py            # a table of examples/second and ratios
    python bench/throughput.py --json     # ... and one JSON line at the end

Both models: Fashion-MNIST shapes (28x28x1), MLP 2 x 200 ReLU encoder and decoder,
latent 10, Bernoulli likelihood, analytic KL, Adam, batch 100. Each is timed through
`model.fit` on the same in-memory repeated dataset, with and without XLA, in the same
process; repeats alternate between the models and the best of them is kept, so the
ratios compare like with like on a machine that is doing other work. Run by hand, not
in CI.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

import tf_smvae  # noqa: E402

flags.DEFINE_integer("batch_size", 100, "Examples per step.")
flags.DEFINE_integer("latent_dim", 10, "Latent dimension.")
flags.DEFINE_integer("steps", 300, "Timed steps per repeat.")
flags.DEFINE_integer("repeats", 3, "Timed repeats per model (best kept).")
flags.DEFINE_bool("json", False, "End with one JSON line of the figures.")

IMAGE_SHAPE = (28, 28, 1)
HIDDEN = 200


class HandWrittenVAE(keras.Model):
    """The reference: the smallest Keras VAE step one would write by hand."""

    def __init__(self, latent_dim):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = keras.Sequential(
            [
                keras.layers.Flatten(),
                keras.layers.Dense(HIDDEN, "relu"),
                keras.layers.Dense(HIDDEN, "relu"),
                keras.layers.Dense(2 * latent_dim),
            ]
        )
        self.decoder = keras.Sequential(
            [
                keras.layers.Dense(HIDDEN, "relu"),
                keras.layers.Dense(HIDDEN, "relu"),
                keras.layers.Dense(int(np.prod(IMAGE_SHAPE))),
            ]
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def train_step(self, x):
        with tf.GradientTape() as tape:
            loc, raw = tf.split(self.encoder(x), 2, axis=-1)
            scale = tf.nn.softplus(raw)
            z = loc + scale * tf.random.normal(tf.shape(loc))
            logits = self.decoder(z)
            flat = tf.reshape(x, [-1, int(np.prod(IMAGE_SHAPE))])
            reconstruction = -tf.reduce_sum(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=flat, logits=logits), -1
            )
            kl = 0.5 * tf.reduce_sum(loc**2 + scale**2 - 1.0 - 2.0 * tf.math.log(scale), -1)
            loss = tf.reduce_mean(kl - reconstruction)
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    @property
    def metrics(self):
        return [self.loss_tracker]


def _dataset(batch_size):
    rng = np.random.default_rng(0)
    images = (rng.random((20 * batch_size,) + IMAGE_SHAPE) > 0.7).astype(np.float32)
    return tf.data.Dataset.from_tensor_slices(images).batch(batch_size).repeat().prefetch(4)


def _models(latent_dim, jit_compile):
    ours = tf_smvae.VAE(IMAGE_SHAPE, latent_dim)
    reference = HandWrittenVAE(latent_dim)
    reference.build((None,) + IMAGE_SHAPE)
    for model in (ours, reference):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit_compile)
    return {"tf_smvae.VAE": ours, "hand-written Keras": reference}


def _examples_per_second(model, dataset, steps, batch_size):
    start = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
    return steps * batch_size / (time.perf_counter() - start)


def measure(jit_compile, batch_size, latent_dim, steps, repeats):
    """Best examples/second of each model over alternating repeats."""
    dataset = _dataset(batch_size)
    models = _models(latent_dim, jit_compile)
    for model in models.values():  # compile and warm up
        _examples_per_second(model, dataset, 20, batch_size)
    best = {name: 0.0 for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            rate = _examples_per_second(model, dataset, steps, batch_size)
            best[name] = max(best[name], rate)
    return best


def main(argv):
    del argv
    f = flags.FLAGS
    results = {}
    print(
        f"batch {f.batch_size}, latent {f.latent_dim}, MLP 2x{HIDDEN}, {f.steps} steps x "
        f"{f.repeats} repeats, {os.cpu_count()} CPUs, devices: "
        f"{[d.device_type for d in tf.config.list_logical_devices()]}"
    )
    print(f"{'jit_compile':>12} {'tf_smvae.VAE':>14} {'hand-written':>14} {'ratio':>7}")
    for jit_compile in (True, False):
        best = measure(jit_compile, f.batch_size, f.latent_dim, f.steps, f.repeats)
        ours, reference = best["tf_smvae.VAE"], best["hand-written Keras"]
        key = "xla" if jit_compile else "no_xla"
        results[f"vae_examples_per_s_{key}"] = round(ours, 1)
        results[f"keras_examples_per_s_{key}"] = round(reference, 1)
        results[f"vae_step_vs_keras_{key}"] = round(reference / ours, 3)
        print(f"{jit_compile!s:>12} {ours:>12.0f}/s {reference:>12.0f}/s {reference / ours:>6.2f}x")
    # Time of our step as a multiple of the hand-written one (1.0 = as fast; lower is better).
    results["vae_step_vs_keras"] = results["vae_step_vs_keras_xla"]
    if f.json:
        print(json.dumps(results))


if __name__ == "__main__":
    app.run(main)
