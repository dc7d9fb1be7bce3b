"""`adapt_kernel` on a Bayesian model, then `tfp.mcmc.sample_chain` with the kernel it returns.

A logistic regression on scikit-learn's breast-cancer data (569 patients, 30 standardised
features and an intercept, N(0, 1) priors). The speed-measure warm-up learns a step size and
a lower-triangular preconditioner C for MALA; the calibrated kernel then samples like any
TFP kernel, and we report TFP's R-hat and effective sample size.

    python examples/bayesian_logistic_regression.py          # ~1 min on 2 cores
    python examples/bayesian_logistic_regression.py --smoke  # seconds (CI)

Needs scikit-learn (`pip install -e .[bench]`) for the data.
"""

import argparse

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from sklearn.datasets import load_breast_cancer

import tf_smvae

tfd = tfp.distributions
# TFP's effective_sample_size autocorrelates by FFT and logs a harmless complex-to-float
# cast warning; keep the output to the figures.
tf.get_logger().setLevel("ERROR")


def make_target():
    """Returns the unnormalised log posterior `[B, 31] -> [B]` and the dimension."""
    features, labels = load_breast_cancer(return_X_y=True)
    features = (features - features.mean(0)) / features.std(0)
    x = tf.constant(np.concatenate([np.ones((len(features), 1)), features], 1), tf.float32)
    y = tf.constant(labels, tf.float32)
    prior = tfd.Sample(tfd.Normal(0.0, 1.0), x.shape[1])

    def target_log_prob_fn(beta):  # beta: [B, 31], one chain per row
        logits = tf.linalg.matmul(beta, x, transpose_b=True)  # [B, N]
        log_lik = tf.reduce_sum(tfd.Bernoulli(logits=logits).log_prob(y), -1)
        return prior.log_prob(beta) + log_lik

    return target_log_prob_fn, x.shape[1]


def summarise(samples):
    """Prints TFP's split R-hat and cross-chain ESS of `[num_results, num_chains, d]` draws."""
    rhat = tfp.mcmc.potential_scale_reduction(samples, split_chains=True)
    ess = tfp.mcmc.effective_sample_size(samples, cross_chain_dims=1)
    print(f"  max R-hat {float(tf.reduce_max(rhat)):.3f}, min ESS {float(tf.reduce_min(ess)):.0f}")
    print("  posterior means of the first 4 coefficients:", samples.numpy().mean((0, 1))[:4])


def adapt_then_sample(target_log_prob_fn, initial_state, num_adaptation_steps, num_results):
    """`adapt_kernel` learns (h, C); `sample_chain` then runs the kernel it returns."""
    # An initial step-size search, then a lower-triangular C (set from the chains'
    # precision estimate, refined by the speed measure) and h (dual averaging), as one
    # XLA-compiled loop: one transition (one gradient for MALA) per step.
    adapted = tf_smvae.mcmc.adapt_kernel(
        target_log_prob_fn,
        initial_state,
        kernel="mala",
        preconditioner="tril",
        num_adaptation_steps=num_adaptation_steps,
        seed=[3, 4],
    )
    trace = adapted.trace  # numpy arrays, one entry per warm-up step
    print(f"  learned step size {float(adapted.step_size):.4f}")
    print(f"  warm-up acceptance (last 100 steps) {trace.accept_prob[-100:].mean():.3f}")
    print(f"  dropped kernel gradients {int(trace.num_dropped_grads.sum())}")

    # The returned kernel is a calibrated tfp.mcmc.TransitionKernel.
    samples, is_accepted = tfp.mcmc.sample_chain(
        num_results,
        adapted.final_state,
        kernel=adapted.kernel,
        trace_fn=lambda _, results: results.is_accepted,
        seed=[5, 6],
    )
    print(
        f"  acceptance while sampling {float(tf.reduce_mean(tf.cast(is_accepted, tf.float32))):.3f}"
    )
    return samples


def adapt_inside_sample_chain(target_log_prob_fn, initial_state, num_adaptation_steps, num_results):
    """The same warm-up as a TFP kernel wrapper, like `DualAveragingStepSizeAdaptation`."""
    kernel = tf_smvae.mcmc.SpeedMeasureAdaptation(
        tf_smvae.mcmc.PreconditionedMALA(target_log_prob_fn, step_size=0.1),
        num_adaptation_steps,
        preconditioner="tril",
    )
    return tfp.mcmc.sample_chain(
        num_results,
        initial_state,
        kernel=kernel,
        num_burnin_steps=num_adaptation_steps,
        trace_fn=None,
        seed=[7, 8],
    )


def main(smoke):
    num_chains = 16 if smoke else 64
    num_adaptation_steps = 50 if smoke else 1000
    num_results = 50 if smoke else 500
    target_log_prob_fn, dim = make_target()
    initial_state = tfd.Normal(0.0, 1.0).sample([num_chains, dim], seed=[1, 2])
    print("adapt_kernel, then sample_chain:")
    summarise(
        adapt_then_sample(target_log_prob_fn, initial_state, num_adaptation_steps, num_results)
    )
    print("SpeedMeasureAdaptation inside sample_chain:")
    samples = adapt_inside_sample_chain(
        target_log_prob_fn, initial_state, num_adaptation_steps, num_results
    )
    summarise(samples)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    main(parser.parse_args().smoke)
