"""Tests of the composable warm-up: `find_step_size`, `SpeedMeasureAdaptation`, TFP's
step-size adapters around our kernels, and `adapt_kernel`'s calibrated kernel, trace,
warnings and dtypes."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests.mcmc.gaussians import make_gaussian
from tf_smvae import mcmc
from tf_smvae.mcmc import adapt as adapt_module
from tf_smvae.mcmc.step_size_search import mean_accept_prob
from tf_smvae.util.errors import ConfigError


def _sample_chain(num_results, current_state, **kwargs):
    """`tfp.mcmc.sample_chain`, XLA-compiled (5x faster than eager on these targets)."""
    return tf.function(
        lambda: tfp.mcmc.sample_chain(num_results, current_state, **kwargs), jit_compile=True
    )()


def _start(target, num_chains, seed, dtype=tf.float32):
    rng = np.random.default_rng(seed)
    return tf.constant(
        rng.multivariate_normal(target.mean, target.covariance, size=num_chains), dtype
    )


def _accept_prob(kernel, state, step_size, seed):
    results = kernel.bootstrap_results(state)
    accepted = results.accepted_results._replace(step_size=tf.constant(step_size, state.dtype))
    _, new = kernel.one_step(state, results._replace(accepted_results=accepted), seed=seed)
    return float(mean_accept_prob(new))


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("kernel_name", ["mala", "hmc"])
@pytest.mark.parametrize("init_step_size", [1e-3, 10.0])
def test_find_step_size_lands_on_the_acceptance_crossing(kernel_name, init_step_size, dtype):
    target = make_gaussian(8, 2.0, seed=3, dtype=dtype)
    state = _start(target, 64, seed=3, dtype=dtype)
    kernel = mcmc.make_kernel(
        kernel_name, target.log_prob, tf.constant(init_step_size, dtype), None, 3
    )
    seed = tf.constant([4, 5])
    step_size = mcmc.find_step_size(kernel, state, target_accept_prob=0.6, seed=seed)
    assert step_size.dtype == dtype
    h = float(step_size)
    # The search reuses one seed, so the crossing is checked with that seed.
    assert _accept_prob(kernel, state, h, seed) >= 0.6
    assert _accept_prob(kernel, state, 2.0 * h, seed) < 0.6
    assert 1e-3 < h < 10.0


def _diagonal_gaussian(dtype=tf.float32):
    # Axis-aligned, standard deviations 0.1 .. 10 (condition number 1e4 of the covariance).
    return make_gaussian(6, 2.0, seed=5, dtype=dtype, rotate=False)


@pytest.mark.parametrize("kernel_name,num_leapfrog_steps", [("mala", 1), ("hmc", 3)])
def test_speed_measure_adaptation_runs_inside_sample_chain_with_xla(
    kernel_name, num_leapfrog_steps
):
    target = _diagonal_gaussian()
    state = tf.zeros([64, 6])
    inner = mcmc.make_kernel(
        kernel_name, target.log_prob, tf.constant(1.0), None, num_leapfrog_steps
    )
    kernel = mcmc.SpeedMeasureAdaptation(inner, 400, preconditioner="diag", learning_rate=0.03)

    @tf.function(jit_compile=True)
    def run(seed):
        return tfp.mcmc.sample_chain(
            400,
            state,
            kernel=kernel,
            num_burnin_steps=400,
            trace_fn=lambda _, results: (results.accept_prob, results.step_size),
            return_final_kernel_results=True,
            seed=seed,
        )

    out = run(tf.constant([1, 2]))
    accept, step_size = (t.numpy() for t in out.trace)
    target_accept = mcmc.KERNELS.get(kernel_name).target_accept_prob
    assert abs(accept.mean() - target_accept) < 0.05
    np.testing.assert_array_equal(step_size, step_size[0])  # frozen after the warm-up
    scale = kernel.scale_tril(out.final_kernel_results).numpy()
    # C follows the target's standard deviations (h C ~ sd up to one scalar).
    sd = np.sqrt(np.diag(target.covariance))
    assert np.corrcoef(np.log(scale), np.log(sd))[0, 1] > 0.95
    # Seeded replay.
    again = run(tf.constant([1, 2]))
    np.testing.assert_array_equal(out.all_states.numpy(), again.all_states.numpy())
    draws = out.all_states.numpy().reshape(-1, 6)
    np.testing.assert_allclose(draws.std(0), sd, rtol=0.25)


@pytest.mark.parametrize(
    "adapter,kernel_name",
    [
        (tfp.mcmc.SimpleStepSizeAdaptation, "mala"),
        (tfp.mcmc.DualAveragingStepSizeAdaptation, "hmc"),
    ],
)
def test_tfp_step_size_adapters_wrap_our_kernels(adapter, kernel_name):
    target = make_gaussian(5, 1.0, seed=2)
    inner = mcmc.make_kernel(kernel_name, target.log_prob, tf.constant(5.0), None, 2)
    kernel = adapter(inner, num_adaptation_steps=300, target_accept_prob=0.6)
    states, accepted = tfp.mcmc.sample_chain(
        300,
        _start(target, 32, seed=2),
        kernel=kernel,
        num_burnin_steps=300,
        trace_fn=lambda _, results: results.inner_results.is_accepted,
        seed=[3, 4],
    )
    assert abs(accepted.numpy().mean() - 0.6) < 0.1


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_adapt_kernel_returns_a_calibrated_kernel_and_a_trace(dtype):
    target = _diagonal_gaussian(dtype)
    result = mcmc.adapt_kernel(
        target.log_prob,
        tf.zeros([32, 6], dtype),
        kernel="hmc",
        num_leapfrog_steps=2,
        preconditioner="diag",
        num_adaptation_steps=300,
        learning_rate=0.03,
        seed=3,
    )
    assert isinstance(result.kernel, mcmc.PreconditionedHMC)
    assert result.kernel.parameters["num_leapfrog_steps"] == 2
    assert result.step_size.dtype == result.final_state.dtype == dtype
    assert result.scale_diag.shape == (6,) and result.scale_tril is None
    for field in adapt_module.AdaptationTrace._fields:
        assert getattr(result.trace, field).shape == (300,), field
    assert result.trace.num_dropped_grads.sum() == 0
    assert np.all(result.trace.num_nonfinite >= 0)
    states, accepted = _sample_chain(
        200,
        result.final_state,
        kernel=result.kernel,
        trace_fn=lambda _, results: results.is_accepted,
        seed=[5, 6],
    )
    assert states.dtype == dtype
    assert abs(accepted.numpy().mean() - 0.65) < 0.07


def test_adapt_kernel_replays_with_a_seed_and_warns_on_num_steps():
    target = make_gaussian(4, 1.0, seed=1)
    kwargs = dict(kernel="mala", preconditioner="tril", seed=[7, 8])
    first = mcmc.adapt_kernel(target.log_prob, tf.zeros([16, 4]), num_adaptation_steps=50, **kwargs)
    with pytest.warns(DeprecationWarning, match="num_adaptation_steps"):
        second = mcmc.adapt_kernel(target.log_prob, tf.zeros([16, 4]), num_steps=50, **kwargs)
    np.testing.assert_array_equal(first.scale_tril.numpy(), second.scale_tril.numpy())
    np.testing.assert_array_equal(first.trace.accept_prob, second.trace.accept_prob)


def test_adapt_kernel_rejects_a_bad_state():
    target = make_gaussian(4, 1.0, seed=1)
    with pytest.raises(ConfigError, match="initial_state"):
        mcmc.adapt_kernel(target.log_prob, tf.zeros([4]), seed=1)
    with pytest.raises(ConfigError, match="num_adaptation_steps"):
        mcmc.adapt_kernel(target.log_prob, tf.zeros([2, 4]), num_adaptation_steps=0, seed=1)


def test_adapt_kernel_warns_and_counts_when_every_gradient_is_dropped(monkeypatch):
    monkeypatch.setattr(adapt_module, "DROPPED_GRADIENT_RUN_WARNING", 5)
    start = tf.ones([8, 3])

    def target_log_prob_fn(z):
        # Finite only at the starting point: every proposal is non-finite.
        at_start = tf.reduce_all(tf.equal(z, 1.0), axis=-1)
        log_prob = -0.5 * tf.reduce_sum(tf.square(z), -1)
        return tf.where(at_start, log_prob, np.nan)

    with pytest.warns(RuntimeWarning, match="dropped on 10 consecutive steps"):
        result = mcmc.adapt_kernel(
            target_log_prob_fn,
            start,
            kernel="mala",
            num_adaptation_steps=10,
            search_step_size=False,
            step_size_adaptation="speed_measure",  # h moves by the back-off alone
            seed=2,
        )
    np.testing.assert_array_equal(result.trace.num_dropped_grads, 1)
    np.testing.assert_array_equal(result.trace.num_nonfinite, 8)
    np.testing.assert_array_equal(result.trace.num_divergences, 8)
    np.testing.assert_array_equal(result.trace.num_backoffs[:-1], 1)  # h halves each step
    np.testing.assert_allclose(result.trace.step_size[:4], 0.1 * 0.5 ** np.arange(1, 5), rtol=1e-5)
    np.testing.assert_array_equal(result.final_state.numpy(), start.numpy())


def _regression_target(dtype=tf.float32):
    """A badly scaled Bayesian linear regression: coefficients of sizes 0.1 .. 100 and a
    log noise scale (d = 5), flat priors; the posterior is near-Gaussian."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)) * np.array([10.0, 1.0, 0.1, 0.01])
    y = x @ np.array([0.1, 1.0, 10.0, 100.0]) + 0.5 * rng.normal(size=200)
    x_t, y_t = tf.constant(x, dtype), tf.constant(y, dtype)

    def log_prob(state):
        beta, log_sigma = state[..., :4], state[..., 4]
        residual = y_t - tf.linalg.matmul(beta, x_t, transpose_b=True)
        return -200.0 * log_sigma - 0.5 * tf.reduce_sum(tf.square(residual), -1) * tf.exp(
            -2.0 * log_sigma
        )

    return log_prob


ACCEPTANCE_CASES = [
    # (kernel, L, preconditioner, target, init_step_size)
    ("mala", 1, "tril", "rotated", 10.0),
    ("hmc", 2, "tril", "rotated", 1e-3),
    ("hmc", 5, "diag", "diagonal", 10.0),
    ("hmc", 3, "diag", "regression", 0.1),
    ("mala", 1, "diag", "regression", 1e-3),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "kernel_name,L,preconditioner,target_name,init_step_size", ACCEPTANCE_CASES
)
def test_sampling_acceptance_is_on_target(
    kernel_name, L, preconditioner, target_name, init_step_size
):
    if target_name == "regression":
        log_prob, state = _regression_target(), tf.zeros([64, 5])
    else:
        target = make_gaussian(10, 3.0, seed=4, rotate=target_name == "rotated")
        log_prob, state = target.log_prob, tf.zeros([64, 10])
    result = mcmc.adapt_kernel(
        log_prob,
        state,
        kernel=kernel_name,
        num_leapfrog_steps=L,
        preconditioner=preconditioner,
        num_adaptation_steps=1000,
        learning_rate=0.02,
        init_step_size=init_step_size,
        seed=4,
    )
    _, accepted = _sample_chain(
        300,
        result.final_state,
        kernel=result.kernel,
        trace_fn=lambda _, results: tf.exp(tf.minimum(results.log_accept_ratio, 0.0)),
        seed=[1, 1],
    )
    target_accept = mcmc.KERNELS.get(kernel_name).target_accept_prob
    assert abs(accepted.numpy().mean() - target_accept) < 0.05


@pytest.mark.parametrize("kernel_name,L", [("mala", 1), ("hmc", 3)])
def test_find_step_size_bisection_lands_within_its_bracket_on_the_crossing(kernel_name, L):
    target = make_gaussian(6, 10.0, seed=3)
    state = _start(target, 64, seed=3)
    kernel = mcmc.make_kernel(kernel_name, target.log_prob, tf.constant(0.01), None, L)
    results = kernel.bootstrap_results(state)
    seed = tf.constant([4, 5])
    coarse = mcmc.find_step_size(kernel, state, results, target_accept_prob=0.6, seed=seed)
    fine = mcmc.find_step_size(
        kernel, state, results, target_accept_prob=0.6, num_bisections=8, seed=seed
    )

    def accept(step_size):
        from tf_smvae.mcmc.step_size_search import with_step_size

        _, new = kernel.one_step(state, with_step_size(results, step_size), seed=seed)
        return float(mean_accept_prob(new))

    # The bisection stays in [h, 2h] of the doubling, still at or above a*, and a step
    # 2^(1/256) larger falls below it: h is on the crossing.
    assert coarse <= fine < 2 * coarse
    assert accept(fine) >= 0.6 > accept(fine * 2.0 ** (1 / 256))
