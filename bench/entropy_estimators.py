r"""Which HMC entropy estimator is cheaper per unit of gradient variance, as d grows.

    python bench/entropy_estimators.py                       # d = 4 .. 64 (~3-5 min, 2 cores)
    python bench/entropy_estimators.py --dims 8,16,24 --draws 32 --json

The HMC proposal entropy needs log|det(I - B)|, B = xi C^T Hess U(q) C, and its gradient
in (xi, C) (DESIGN section 4). `exact` forms Hess U from d Hessian-vector products (one
batched Jacobian) and differentiates a QR log-det: no estimator noise, cost linear in d
HVPs plus O(d^3). `stochastic` uses a Rademacher probe and a Russian-roulette series:
a few HVPs whatever d, but it adds variance. What matters for training is the cost of a
gradient of a given precision, so each estimator is scored by

    work-normalised variance = seconds per gradient x total variance of that gradient

(lower is better; the variance is over fresh chain states AND fresh estimator seeds, so
it includes the sampling noise both estimators share). The `auto` estimator should pick
`exact` up to the largest d at which exact's score is the lower one.

Target: the training-time one, log p(x, z) of the Fashion-MNIST-shaped MLP decoder
(d -> 200 -> 200 -> 784, ReLU, Bernoulli, standard normal prior) with seeded Glorot
weights, for a batch of 100 binary images and one chain each; states z ~ N(0, I). The
step factor xi is set per d so that the median spectral radius of B over the chains is
`--spectral_radius` (adapted kernels sit at 0.5-0.95, DESIGN 4 and BUILD_NOTES); C is a
diagonal of ones and the gradient is taken w.r.t. (xi, log C). Both estimators are
XLA-compiled and timed in the same process. Run by hand, not in CI.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from tf_smvae import mcmc  # noqa: E402
from tf_smvae.mcmc import log_det  # noqa: E402

flags.DEFINE_list("dims", ["4", "8", "16", "32", "64"], "Latent dimensions d to compare.")
flags.DEFINE_integer("batch_size", 100, "Chains (one per image).")
flags.DEFINE_integer("draws", 48, "Independent gradients per estimator for the variance.")
flags.DEFINE_integer("repeats", 3, "Timing repeats (best kept), each over --draws calls.")
flags.DEFINE_float("spectral_radius", 0.6, "Median rho(B) over the chains.")
flags.DEFINE_bool("json", False, "End with one JSON line of the figures.")

NUM_PIXELS = 784
HIDDEN = 200
ESTIMATORS = ("exact", "stochastic")


def _decoder_target(latent_dim, batch_size, seed=0):
    """log p(x, z) [B] of a seeded random MLP decoder on fixed binary images."""
    rng = np.random.default_rng(seed)

    def glorot(fan_in, fan_out):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return tf.constant(rng.uniform(-limit, limit, (fan_in, fan_out)), tf.float32)

    w1, w2, w3 = glorot(latent_dim, HIDDEN), glorot(HIDDEN, HIDDEN), glorot(HIDDEN, NUM_PIXELS)
    images = tf.constant(rng.random((batch_size, NUM_PIXELS)) < 0.3, tf.float32)

    def target_log_prob_fn(z):
        hidden = tf.nn.relu(tf.matmul(tf.nn.relu(tf.matmul(z, w1)), w2))
        logits = tf.matmul(hidden, w3)
        log_lik = tf.reduce_sum(images * logits - tf.nn.softplus(logits), -1)
        return log_lik - 0.5 * tf.reduce_sum(tf.square(z), -1)

    return target_log_prob_fn


def _scale_factor(target_log_prob_fn, latent_dim, batch_size, spectral_radius):
    """xi with median_b rho(xi H_b) = `spectral_radius` at states drawn like the timed ones."""
    state = tf.random.stateless_normal([batch_size, latent_dim], [7, 7])
    hessian = log_det.potential_hessian(target_log_prob_fn, state).numpy()
    radius = np.max(np.abs(np.linalg.eigvalsh(hessian)), axis=-1)
    return float(spectral_radius / np.median(radius))


def _gradient_fn(name, target_log_prob_fn, latent_dim, batch_size, scale_factor):
    """A compiled `seed -> gradient [1 + d]` of the chain-mean log-det w.r.t. (xi, log C)."""
    estimator = mcmc.LOG_DET_ESTIMATORS.get(name)
    log_xi = tf.Variable(np.log(scale_factor), dtype=tf.float32)
    log_scale = tf.Variable(tf.zeros([latent_dim]))

    @tf.function(jit_compile=True)
    def gradient(seed):
        state_seed, estimator_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 2), axis=0
        )
        state = tf.random.stateless_normal([batch_size, latent_dim], state_seed)
        with tf.GradientTape() as tape:
            result = estimator(
                target_log_prob_fn,
                state,
                tf.exp(log_xi),
                tf.exp(log_scale),
                estimator_seed,
            )
            value = tf.reduce_mean(result.log_det)
        grads = tape.gradient(value, [log_xi, log_scale])
        return tf.concat([tf.reshape(grads[0], [1]), grads[1]], 0)

    return gradient


def _measure(gradient, draws, repeats):
    """(seconds per gradient, total variance of the gradient, its mean) over `draws` seeds."""
    seeds = [tf.constant([index, 11], tf.int32) for index in range(draws)]
    gradient(seeds[0]).numpy()  # compile
    samples = np.stack([gradient(seed).numpy() for seed in seeds])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for seed in seeds:
            out = gradient(seed)
        out.numpy()
        best = min(best, (time.perf_counter() - start) / draws)
    return best, float(np.sum(np.var(samples, axis=0, ddof=1))), samples.mean(0)


def compare(latent_dim, batch_size, draws, repeats, spectral_radius):
    """Times and scores both estimators at one d; returns a dict of figures."""
    target = _decoder_target(latent_dim, batch_size)
    scale_factor = _scale_factor(target, latent_dim, batch_size, spectral_radius)
    row = {"d": latent_dim, "xi": scale_factor}
    for name in ESTIMATORS:
        fn = _gradient_fn(name, target, latent_dim, batch_size, scale_factor)
        seconds, variance, mean = _measure(fn, draws, repeats)
        row[name] = {
            "ms": 1e3 * seconds,
            "variance": variance,
            "score": seconds * variance,
            "mean_grad_xi": float(mean[0]),
        }
    row["stochastic_over_exact"] = row["stochastic"]["score"] / row["exact"]["score"]
    return row


def main(argv):
    del argv
    f = flags.FLAGS
    rows = [compare(int(d), f.batch_size, f.draws, f.repeats, f.spectral_radius) for d in f.dims]
    print(
        f"Entropy estimators, decoder target, batch {f.batch_size}, median rho(B) "
        f"{f.spectral_radius}, {f.draws} gradients each (score = seconds x total variance):"
    )
    print("| d | exact ms | exact var | stochastic ms | stochastic var | score ratio st/ex |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        ex, st = row["exact"], row["stochastic"]
        print(
            f"| {row['d']} | {ex['ms']:.2f} | {ex['variance']:.3g} | {st['ms']:.2f} | "
            f"{st['variance']:.3g} | {row['stochastic_over_exact']:.2f} |"
        )
    exact_wins = [row["d"] for row in rows if row["stochastic_over_exact"] > 1.0]
    threshold = max(exact_wins) if exact_wins else 0
    print(
        f"exact is the cheaper estimator up to d = {threshold} "
        f"(auto uses exact for d <= {log_det.AUTO_EXACT_MAX_DIMS})"
    )
    if f.json:
        print(json.dumps({"exact_max_dims": threshold, "rows": rows}))


if __name__ == "__main__":
    app.run(main)
