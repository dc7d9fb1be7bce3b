r"""Training throughput: tf_smvae's VAE against a hand-written Keras VAE, and the
MCMC-coupled `SpeedMeasureVAE` steps against the decoder passes they need.

    python bench/throughput.py                           # both tables (~1-2 min, 2 cores)
    python bench/throughput.py --json                    # ... and one JSON line at the end
    python bench/throughput.py --mcmc_only --mcmc_steps 10 --repeats 2   # ~30 seconds
    python bench/throughput.py --is_only --json          # IS log-likelihood rate (~1 min)

Both models: Fashion-MNIST shapes (28x28x1), MLP 2 x 200 ReLU encoder and decoder,
latent 10, Bernoulli likelihood, analytic KL, Adam, batch 100. Each is timed through
`model.fit` on the same in-memory repeated dataset, with and without XLA, in the same
process; repeats alternate between the models and the best of them is kept, so the
ratios compare like with like on a machine that is doing other work. Run by hand, not
in CI.

The MCMC table (DESIGN section 12) times one training step of `SpeedMeasureVAE` in the
MCMC phase from the first step (`mcmc_start_epoch=0`, diag C, XLA) through `fit`, as a
multiple of ONE decoder pass: the decoder MLP z [100, 10] -> logits [100, 784], the
Bernoulli log-prob and its gradient w.r.t. z and the decoder weights, XLA-compiled and
timed in the same process (a static loop of passes inside one compiled function, so that
no dispatch overhead is counted). The bound is the number of such passes the algorithm
needs: K (L + 1) + 2 (MALA: L = 1), plus 2 per Hessian-vector product of the HMC entropy
estimator. The `exact` estimator (`auto` picks it for d <= 128) forms
B = xi C^T Hess U(q_m) C per chain from d HVPs per transition
(`log_det.potential_hessian`: one `batch_jacobian` of the d-dimensional gradient), so
HMC with speed-measure adaptation adds 2 d K passes; dual averaging adds none.

Against the paper's code (DESIGN section 12: at least 5x its training throughput): its
examples/s on the same configuration were measured outside this bench, on the same 2
CPU cores (`PAPER_CODE`; not re-measured here), and are set beside ours for the plain
VAE, gradMALA-D K=10 and gradHMC-D K=10 L=2 (diag C, speed measure, default entropy
estimator), all timed through `fit` with `--steps_per_execution` steps per compiled call
(the default of `config.train.steps_per_execution`).

`--is_only` times the importance-sampled log-likelihood (`tf_smvae.evaluation`) of a
VAE of these shapes at S particles per example and extrapolates to the paper's
evaluation, S = 10000 over the 10000 test images, beside its arithmetic bound: the same
decoder forward passes alone (MLP matmuls, no log-prob or sampling) at the same chunk
shape, in one compiled loop.
"""

import importlib
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
from tf_smvae.mcmc import log_det  # noqa: E402

flags.DEFINE_integer("batch_size", 100, "Examples per step.")
flags.DEFINE_integer("latent_dim", 10, "Latent dimension.")
flags.DEFINE_integer("steps", 300, "Timed steps per repeat.")
flags.DEFINE_integer("repeats", 3, "Timed repeats per model (best kept).")
flags.DEFINE_integer("mcmc_steps", 20, "Timed MCMC-coupled training steps per repeat.")
flags.DEFINE_integer("decoder_passes", 50, "Decoder passes per timed call of the reference.")
flags.DEFINE_bool("mcmc_only", False, "Only the MCMC table (skip VAE vs hand-written Keras).")
flags.DEFINE_bool("vae_only", False, "Only the VAE vs hand-written Keras table.")
flags.DEFINE_bool("is_only", False, "Only the IS log-likelihood rate.")
flags.DEFINE_bool("json", False, "End with one JSON line of the figures.")
flags.DEFINE_integer(
    "steps_per_execution", 20, "Training steps per compiled `fit` call (all models)."
)
flags.DEFINE_integer("is_num_samples", 2000, "IS particles per example for --is_only.")
flags.DEFINE_integer("is_batches", 2, "Batches of 100 test-shaped images for --is_only.")

# Training examples/s of the paper's code on this configuration (Fashion-MNIST shapes,
# MLP 2 x 200, latent 10, batch 100), measured outside this bench on the same 2 CPU cores.
PAPER_CODE = {"vae": 12900.0, "mala10": 950.0, "hmc": 360.0}
# The paper's evaluation: S particles over N test images.
IS_PAPER = {"num_samples": 10000, "num_examples": 10000}

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


def _models(latent_dim, jit_compile, steps_per_execution=1):
    ours = tf_smvae.VAE(IMAGE_SHAPE, latent_dim)
    reference = HandWrittenVAE(latent_dim)
    reference.build((None,) + IMAGE_SHAPE)
    for model in (ours, reference):
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
        )
    return {"tf_smvae.VAE": ours, "hand-written Keras": reference}


def _examples_per_second(model, dataset, steps, batch_size):
    start = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
    return steps * batch_size / (time.perf_counter() - start)


def measure(jit_compile, batch_size, latent_dim, steps, repeats, steps_per_execution=1):
    """Best examples/second of each model over alternating repeats."""
    dataset = _dataset(batch_size)
    models = _models(latent_dim, jit_compile, steps_per_execution)
    for model in models.values():  # compile and warm up
        _examples_per_second(model, dataset, 2 * steps_per_execution, batch_size)
    best = {name: 0.0 for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            rate = _examples_per_second(model, dataset, steps, batch_size)
            best[name] = max(best[name], rate)
    return best


# name -> (key of the JSON figures, SpeedMeasureVAE arguments beyond the shared ones).
MCMC_MODELS = {
    "gradMALA-D K=5": ("mala", dict(kernel="mala", num_steps=5)),
    "gradMALA-D K=10": ("mala10", dict(kernel="mala", num_steps=10)),
    "gradHMC-D K=10 L=2": ("hmc", dict(kernel="hmc", num_steps=10, num_leapfrog_steps=2)),
    "dsHMC K=10 L=2": (
        "dshmc",
        dict(
            kernel="hmc",
            num_steps=10,
            num_leapfrog_steps=2,
            adaptation="dual_averaging",
            preconditioner="identity",
        ),
    ),
}
MCMC_SHARED = dict(mcmc_start_epoch=0, preconditioner="diag", adaptation="speed_measure")


def entropy_hessian_vector_products(refinement):
    """Hessian-vector products per training step of the HMC entropy estimator.

    Only speed-measure HMC with L > 1 estimates log det(I - B); the `exact` estimator
    (what `auto` picks for d <= `log_det.AUTO_EXACT_MAX_DIMS`) builds B from d HVPs per
    transition, K transitions.
    """
    if not (
        refinement.adaptation == "speed_measure"
        and refinement.kernel == "hmc"
        and refinement.num_leapfrog_steps > 1
    ):
        return 0
    estimator = refinement.entropy_estimator
    if estimator == "auto":
        small = refinement.latent_dim <= log_det.AUTO_EXACT_MAX_DIMS
        estimator = "exact" if small else "stochastic"
    if estimator != "exact":
        raise NotImplementedError("The bound here counts the exact estimator's HVPs only.")
    return refinement.latent_dim * refinement.num_steps


def decoder_pass_bound(refinement):
    """K (L + 1) + 2 decoder passes, plus 2 per entropy-estimator HVP (DESIGN section 12)."""
    num_passes = refinement.num_steps * (refinement.num_leapfrog_steps + 1) + 2
    return num_passes + 2 * entropy_hessian_vector_products(refinement)


def _mcmc_models(latent_dim, steps_per_execution):
    models = {}
    for name, (_, kwargs) in MCMC_MODELS.items():
        model = tf_smvae.SpeedMeasureVAE(IMAGE_SHAPE, latent_dim, **{**MCMC_SHARED, **kwargs})
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            kernel_optimizer=keras.optimizers.Adam(1e-3),
            jit_compile=True,
            steps_per_execution=steps_per_execution,
        )
        models[name] = model
    return models


def _decoder_passes(model, batch_size, latent_dim, num_passes):
    """A compiled function running `num_passes` dependent decoder forward+backward passes.

    Each pass: logits of z [B, d], the Bernoulli log-prob of x (its value is used, as a
    chain uses it), its gradient w.r.t. z and the decoder weights; z moves along its
    gradient and the values and weight gradients are summed, so that XLA can neither hoist
    nor drop any part of a pass.
    """
    rng = np.random.default_rng(1)
    x = tf.constant((rng.random((batch_size,) + IMAGE_SHAPE) > 0.7).astype(np.float32))
    z = tf.constant(rng.standard_normal((batch_size, latent_dim)).astype(np.float32))
    variables = model.decoder.trainable_variables

    @tf.function(jit_compile=True)
    def passes(z):
        def body(i, z, total, sums):
            with tf.GradientTape() as tape:
                tape.watch(z)
                log_prob = tf.reduce_sum(model.log_likelihood_given_latent(x, z))
            grad_z, *grads = tape.gradient(log_prob, [z] + variables)
            sums = [s + g for s, g in zip(sums, grads)]
            return i + 1, z + 1e-4 * grad_z, total + log_prob, sums

        loop_vars = (0, z, 0.0, [tf.zeros_like(v) for v in variables])
        _, z, total, sums = tf.while_loop(
            lambda i, *_: i < num_passes, body, loop_vars, maximum_iterations=num_passes
        )
        return total + tf.reduce_sum(z) + tf.add_n([tf.reduce_sum(s) for s in sums])

    def seconds_per_pass():
        start = time.perf_counter()
        passes(z).numpy()
        return (time.perf_counter() - start) / num_passes

    return seconds_per_pass


def _seconds_per_step(model, dataset, steps):
    start = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
    return (time.perf_counter() - start) / steps


def measure_mcmc(batch_size, latent_dim, steps, repeats, num_passes, steps_per_execution=1):
    """Best seconds per training step of each MCMC model and per decoder pass.

    Repeats alternate between the decoder reference and the models; `steps` is rounded
    up to a multiple of `steps_per_execution`.
    """
    steps = -(-steps // steps_per_execution) * steps_per_execution
    dataset = _dataset(batch_size)
    models = _mcmc_models(latent_dim, steps_per_execution)
    models["tf_smvae.VAE (ELBO)"] = tf_smvae.VAE(IMAGE_SHAPE, latent_dim)
    models["tf_smvae.VAE (ELBO)"].compile(
        keras.optimizers.Adam(1e-3), jit_compile=True, steps_per_execution=steps_per_execution
    )
    decoder_pass = _decoder_passes(
        models["tf_smvae.VAE (ELBO)"], batch_size, latent_dim, num_passes
    )
    decoder_pass()  # compile
    for model in models.values():  # compile and warm up
        _seconds_per_step(model, dataset, steps_per_execution)
    best = {name: float("inf") for name in ["decoder pass", *models]}
    for _ in range(repeats):
        best["decoder pass"] = min(best["decoder pass"], decoder_pass())
        for name, model in models.items():
            best[name] = min(best[name], _seconds_per_step(model, dataset, steps))
        best["decoder pass"] = min(best["decoder pass"], decoder_pass())
    return best, models


def _vae_table(f, results):
    print(f"{'jit_compile':>12} {'tf_smvae.VAE':>14} {'hand-written':>14} {'ratio':>7}")
    for jit_compile in (True, False):
        best = measure(
            jit_compile, f.batch_size, f.latent_dim, f.steps, f.repeats, f.steps_per_execution
        )
        ours, reference = best["tf_smvae.VAE"], best["hand-written Keras"]
        key = "xla" if jit_compile else "no_xla"
        results[f"vae_examples_per_s_{key}"] = round(ours, 1)
        results[f"keras_examples_per_s_{key}"] = round(reference, 1)
        results[f"vae_step_vs_keras_{key}"] = round(reference / ours, 3)
        print(f"{jit_compile!s:>12} {ours:>12.0f}/s {reference:>12.0f}/s {reference / ours:>6.2f}x")
    # Time of our step as a multiple of the hand-written one (1.0 = as fast; lower is better).
    results["vae_step_vs_keras"] = results["vae_step_vs_keras_xla"]


def _mcmc_table(f, results):
    best, models = measure_mcmc(
        f.batch_size,
        f.latent_dim,
        f.mcmc_steps,
        f.repeats,
        f.decoder_passes,
        f.steps_per_execution,
    )
    decoder_pass = best.pop("decoder pass")
    print(
        f"MCMC-coupled steps (XLA, diag C) in decoder passes; one pass = "
        f"{1e3 * decoder_pass:.3f} ms"
    )
    print(f"{'model':>20} {'step ms':>9} {'passes':>8} {'bound':>6} {'measured/bound':>15}")
    for name, seconds in best.items():
        multiple = seconds / decoder_pass
        if name not in MCMC_MODELS:
            print(f"{name:>20} {1e3 * seconds:>9.2f} {multiple:>8.1f} {'-':>6} {'-':>15}")
            continue
        key = MCMC_MODELS[name][0]
        bound = decoder_pass_bound(models[name].refinement)
        print(
            f"{name:>20} {1e3 * seconds:>9.2f} {multiple:>8.1f} {bound:>6d} "
            f"{multiple / bound:>14.2f}x"
        )
        results[f"{key}_step_passes"] = round(multiple, 2)
        results[f"{key}_step_bound"] = bound
        results[f"{key}_step_vs_bound"] = round(multiple / bound, 3)
    results["decoder_pass_ms"] = round(1e3 * decoder_pass, 4)
    for key in ("mala10", "hmc"):
        name = next(n for n, (k, _) in MCMC_MODELS.items() if k == key)
        results[f"{key}_examples_per_s"] = round(f.batch_size / best[name], 1)


def _paper_code_table(results):
    """Our examples/s against `PAPER_CODE` (measured outside this bench), as ratios."""
    rows = {
        "VAE": ("vae", results.get("vae_examples_per_s_xla")),
        "gradMALA-D K=10": ("mala10", results.get("mala10_examples_per_s")),
        "gradHMC-D K=10 L=2": ("hmc", results.get("hmc_examples_per_s")),
    }
    print("Against the paper's code (its rates measured outside this bench; target >= 5x)")
    print(f"{'model':>20} {'ours':>12} {'paper code':>12} {'ours/paper':>11}")
    for name, (key, ours) in rows.items():
        if ours is None:
            continue
        paper = PAPER_CODE[key]
        print(f"{name:>20} {ours:>10.0f}/s {paper:>10.0f}/s {ours / paper:>10.2f}x")
        results[f"{key}_vs_paper_code"] = round(ours / paper, 2)


def _is_functions(model, batch_size, num_samples):
    """Compiled IS estimate of one batch, and the decoder forward passes alone."""
    log_likelihood_lib = importlib.import_module("tf_smvae.evaluation.log_likelihood")
    chunk = min(log_likelihood_lib.default_chunk_size(model, batch_size), num_samples)
    num_chunks = -(-num_samples // chunk)

    @tf.function(jit_compile=True)
    def estimate(x, seed):
        log_px, ess = log_likelihood_lib.batch_log_likelihood(
            model, x, num_samples, 1.5, chunk, seed
        )
        return tf.reduce_sum(log_px) + tf.reduce_sum(ess)

    @tf.function(jit_compile=True)
    def bound(x, seed):
        del x

        def body(i, total):
            z = tf.random.stateless_normal(
                [chunk * batch_size, model.latent_dim],
                tf.random.experimental.stateless_fold_in(seed, i),
            )
            return i + 1, total + tf.reduce_sum(model.decoder(z))

        return tf.while_loop(lambda i, _: i < num_chunks, body, (0, 0.0))[1]

    return {"IS estimate": estimate, "decoder forward only": bound}, chunk


def measure_is(batch_size, latent_dim, num_samples, num_batches, repeats):
    """Best example-particles/second of the IS estimate and of its decoder passes alone."""
    model = tf_smvae.VAE(IMAGE_SHAPE, latent_dim)
    rng = np.random.default_rng(2)
    images = (rng.random((num_batches, batch_size) + IMAGE_SHAPE) > 0.7).astype(np.float32)
    functions, chunk = _is_functions(model, batch_size, num_samples)
    seed = tf.constant([3, 4])
    for function in functions.values():  # compile
        function(images[0], seed).numpy()
    best = {name: 0.0 for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            for x in images:
                function(x, seed).numpy()
            rate = num_batches * batch_size * num_samples / (time.perf_counter() - start)
            best[name] = max(best[name], rate)
    return best, chunk


def _is_table(f, results):
    best, chunk = measure_is(f.batch_size, f.latent_dim, f.is_num_samples, f.is_batches, f.repeats)
    total = IS_PAPER["num_samples"] * IS_PAPER["num_examples"]
    hidden = HIDDEN
    flops = 2 * (f.latent_dim * hidden + hidden * hidden + hidden * int(np.prod(IMAGE_SHAPE)))
    print(
        f"IS log-likelihood, S = {f.is_num_samples} on {f.is_batches} x {f.batch_size} images "
        f"(chunk {chunk}); minutes extrapolated to S = {IS_PAPER['num_samples']} over "
        f"{IS_PAPER['num_examples']} images; {flops / 1e3:.0f} kflop per particle forward"
    )
    print(f"{'':>22} {'particles/s':>12} {'minutes':>8} {'GFLOP/s':>8}")
    for name, rate in best.items():
        minutes = total / rate / 60
        print(f"{name:>22} {rate:>12.0f} {minutes:>8.1f} {rate * flops / 1e9:>8.1f}")
    ours, bound = best["IS estimate"], best["decoder forward only"]
    results.update(
        is_particles_per_s=round(ours, 0),
        is_minutes_s10000_n10000=round(total / ours / 60, 2),
        is_bound_particles_per_s=round(bound, 0),
        is_bound_minutes=round(total / bound / 60, 2),
        is_vs_bound=round(bound / ours, 3),
    )


def main(argv):
    del argv
    f = flags.FLAGS
    results = {}
    print(
        f"batch {f.batch_size}, latent {f.latent_dim}, MLP 2x{HIDDEN}, {f.repeats} repeats of "
        f"{f.steps} VAE / {f.mcmc_steps} MCMC steps, {f.steps_per_execution} steps per "
        f"execution, {os.cpu_count()} CPUs, devices: "
        f"{[d.device_type for d in tf.config.list_logical_devices()]}"
    )
    if f.is_only:
        _is_table(f, results)
    else:
        if not f.mcmc_only:
            _vae_table(f, results)
        if not f.vae_only:
            _mcmc_table(f, results)
        _paper_code_table(results)
    if f.json:
        print(json.dumps(results))


if __name__ == "__main__":
    app.run(main)
