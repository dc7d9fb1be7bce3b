r"""Speed-measure warm-up (`adapt_kernel`) against TFP's adaptive samplers, per gradient.

    python bench/adaptation.py --workdir=/tmp/bench_adaptation           # all (long, 2 cores)
    python bench/adaptation.py --workdir=... --targets=gaussian100,logistic --samplers=...

Every sampler gets the same chains (`--num_chains`, one cold start drawn uniformly in
[-2, 2]^d as Stan does) and `--num_adaptation_steps` warm-up transitions. The sampling
budget is NUTS's: `tfp_nuts` runs first on each target and draws `--num_draws`; every
fixed-L sampler then spends the same number of gradient evaluations per chain
(`--match_nuts_budget`, on by default; without a NUTS row, `--num_draws` transitions),
thinned to at most `--num_draws` stored draws (TFP's `windowed_adaptive_hmc` cannot
thin and keeps `--num_draws` draws). R-hat is a function of the effective draws
per chain, so comparing it at equal draws would charge the cheaper transitions for being
cheap. Figures per (target, sampler):

- `ess_min` / `ess_med`: minimum / median over parameters of the rank-normalised bulk ESS
  (Vehtari et al. 2021: pooled ranks -> normal scores, split chains; Geyer's initial
  positive sequence) per 1000 gradient evaluations (all chains), over the first
  `--num_draws` sampling transitions, unthinned.
- `rhat`: the largest rank-normalised split R-hat of all the draws (the budget's).
- `bias`: max over parameters of |posterior mean - reference mean| / reference sd.
- `warmup_grads` / `warmup_hvps`: warm-up cost per chain. For NUTS the leapfrog steps
  taken. For ours, counted from the algorithm: one transition (L gradients) per step, the
  step-size search's trials (L each, at most 41), and per main-phase step of the speed
  measure one gradient at the proposal plus its reverse pass (one HVP) and, for HMC with
  L >= 2 and the `exact` estimator, d HVPs for the Hessian.
- `accept`: mean acceptance of the draws; `seconds`: wall time of warm-up + draws;
  `sampling_grads`: gradient evaluations per chain of the sampling phase.

Targets (all on unconstrained spaces, so TFP's samplers and ours see the same density):
`gaussian100` (rotated, d = 100, condition number 1e3; exact moments), `logistic`
(scikit-learn's breast cancer, 30 standardised features + intercept, N(0, 1) prior),
`regression` (scikit-learn's diabetes, raw y, 10 features + intercept with N(0, 1e3^2)
priors and log sigma ~ N(0, 10^2): coefficients in the hundreds, log sigma to +-0.03),
`schools_nc` / `schools_c` (eight schools, tau ~ HalfCauchy(5) as log tau, non-centred and
centred), `funnel` (Neal's, d = 10, v ~ N(0, 3^2); exact moments). References without
exact moments come from a 4x longer `windowed_adaptive_nuts` run (another seed), cached
in `--workdir`. Results are cached per (target, sampler) in `--workdir/results.json`, so
rerunning resumes. Needs scikit-learn (`pip install -e .[bench]`). Run by hand, not in CI;
wall times beside another job are noisy.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import scipy.special  # noqa: E402
import scipy.stats  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from tensorflow_probability.python.internal import unnest  # noqa: E402

from tf_smvae import mcmc  # noqa: E402

tfd, tfb = tfp.distributions, tfp.bijectors

flags.DEFINE_string("workdir", None, "Folder for the cached references and results.")
flags.DEFINE_list("targets", [], "Targets (default all).")
flags.DEFINE_list("samplers", [], "Samplers (default all).")
flags.DEFINE_integer("num_chains", 64, "Chains per sampler.")
flags.DEFINE_integer("num_adaptation_steps", 1000, "Warm-up transitions.")
flags.DEFINE_integer("num_draws", 1000, "NUTS's draws; the most draws stored per chain.")
flags.DEFINE_bool(
    "match_nuts_budget",
    True,
    "Give every fixed-L sampler the gradients per chain NUTS spent on its draws.",
)
flags.DEFINE_integer("num_leapfrog_steps", 5, "L of every fixed-L HMC sampler.")
flags.DEFINE_integer("seed", 0, "Seed.")
FLAGS = flags.FLAGS


# ----------------------------------------------------------------------------- targets
def _gaussian100():
    rng = np.random.default_rng(0)
    rotation = np.linalg.qr(rng.normal(size=(100, 100)))[0]
    covariance = (rotation * np.logspace(-1.5, 1.5, 100)) @ rotation.T
    mean = rng.normal(size=100)
    chol = np.linalg.cholesky(covariance)
    jd = tfd.JointDistributionNamed(
        dict(
            x=tfd.MultivariateNormalTriL(
                tf.constant(mean, tf.float32), tf.constant(chol, tf.float32)
            )
        )
    )
    return jd, {}, [("x", 100)], (mean, np.sqrt(np.diag(covariance)))


def _logistic():
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    x = tf.constant(np.concatenate([np.ones((len(x), 1)), x], 1), tf.float32)
    jd = tfd.JointDistributionNamed(
        dict(
            beta=tfd.Sample(tfd.Normal(0.0, 1.0), 31),
            y=lambda beta: tfd.Independent(tfd.Bernoulli(logits=tf.linalg.matvec(x, beta)), 1),
        )
    )
    return jd, dict(y=tf.constant(y, tf.int32)), [("beta", 31)], None


def _regression():
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    x = tf.constant(x, tf.float32)
    jd = tfd.JointDistributionNamed(
        dict(
            intercept=tfd.Normal(0.0, 1000.0),
            beta=tfd.Sample(tfd.Normal(0.0, 1000.0), 10),
            log_sigma=tfd.Normal(0.0, 10.0),
            y=lambda intercept, beta, log_sigma: tfd.Independent(
                tfd.Normal(
                    tf.linalg.matvec(x, beta) + intercept[..., None],
                    tf.exp(log_sigma)[..., None],
                ),
                1,
            ),
        )
    )
    parts = [("intercept", 0), ("beta", 10), ("log_sigma", 0)]
    return jd, dict(y=tf.constant(y, tf.float32)), parts, None


SCHOOLS_Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0], np.float32)
SCHOOLS_SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0], np.float32)


def _schools(centred):
    log_tau = tfd.TransformedDistribution(tfd.HalfCauchy(0.0, 5.0), tfb.Log())
    if centred:
        theta = lambda log_tau, mu: tfd.Independent(  # noqa: E731
            tfd.Normal(mu[..., None] * tf.ones(8), tf.exp(log_tau)[..., None] * tf.ones(8)), 1
        )
        y = lambda theta: tfd.Independent(tfd.Normal(theta, SCHOOLS_SIGMA), 1)  # noqa: E731
    else:
        theta = tfd.Sample(tfd.Normal(0.0, 1.0), 8)
        y = lambda theta, log_tau, mu: tfd.Independent(  # noqa: E731
            tfd.Normal(mu[..., None] + tf.exp(log_tau)[..., None] * theta, SCHOOLS_SIGMA), 1
        )
    jd = tfd.JointDistributionNamed(
        dict(mu=tfd.Normal(0.0, 5.0), log_tau=log_tau, theta=theta, y=y)
    )
    return jd, dict(y=tf.constant(SCHOOLS_Y)), [("mu", 0), ("log_tau", 0), ("theta", 8)], None


def _funnel():
    jd = tfd.JointDistributionNamed(
        dict(
            v=tfd.Normal(0.0, 3.0),
            x=lambda v: tfd.Independent(tfd.Normal(tf.zeros(9), tf.exp(v / 2)[..., None]), 1),
        )
    )
    sd = np.concatenate([[3.0], np.full(9, np.exp(9.0 / 4.0))])
    return jd, {}, [("v", 0), ("x", 9)], (np.zeros(10), sd)


TARGETS = {
    "gaussian100": _gaussian100,
    "logistic": _logistic,
    "regression": _regression,
    "schools_nc": lambda: _schools(False),
    "schools_c": lambda: _schools(True),
    "funnel": _funnel,
}


def _flatten(parts, values):
    """Dict of `[..., *event]` parts -> `[..., d]` in `parts` order."""
    return np.concatenate(
        [
            np.asarray(values[name])[..., None] if size == 0 else values[name]
            for name, size in parts
        ],
        -1,
    )


def _unflatten(parts, state):
    values, start = {}, 0
    for name, size in parts:
        width = max(size, 1)
        piece = state[..., start : start + width]
        values[name] = piece[..., 0] if size == 0 else piece
        start += width
    return values


# ----------------------------------------------------------------------------- metrics
def _bulk_ess_and_rhat(draws):
    """Rank-normalised bulk ESS [d] and split R-hat [d] of `draws` [n, chains, d].

    The ESS truncates the autocorrelations by Geyer's initial positive sequence (as Stan
    does), so antithetic chains such as NUTS's may show more ESS than draws.
    """
    z = _normal_scores(draws)
    half = draws.shape[0] // 2
    split = np.concatenate([z[:half], z[half : 2 * half]], 1)
    ess = tfp.mcmc.effective_sample_size(
        tf.constant(split), cross_chain_dims=1, filter_beyond_positive_pairs=True
    ).numpy()
    rhat = tfp.mcmc.potential_scale_reduction(tf.constant(z), split_chains=True).numpy()
    return ess, rhat


def _normal_scores(draws):
    n, chains, d = draws.shape
    ranks = scipy.stats.rankdata(draws.reshape(-1, d), axis=0).reshape(draws.shape)
    return scipy.special.ndtri((ranks - 0.375) / (n * chains + 0.25)).astype(np.float32)


def _metrics(run, reference):
    """The figures of one run: ESS per 1000 gradients from its unthinned window; R-hat
    and bias from all its (thinned) draws."""
    ess, _ = _bulk_ess_and_rhat(run["window"])
    _, rhat = _bulk_ess_and_rhat(run["draws"])
    mean, sd = reference
    flat = run["draws"].reshape(-1, run["draws"].shape[-1])
    per_grad = 1000.0 / run["window_grads"]
    return dict(
        ess_min=float(ess.min() * per_grad),
        ess_med=float(np.median(ess) * per_grad),
        rhat=float(np.nanmax(rhat)),
        bias=float(np.max(np.abs(flat.mean(0) - mean) / sd)),
        accept=float(run["accept"]),
    )


# ----------------------------------------------------------------------------- samplers
def _init(parts, num_chains, seed):
    d = sum(max(s, 1) for _, s in parts)
    return np.random.default_rng(seed).uniform(-2, 2, (num_chains, d)).astype(np.float32)


def _sample(kernel, state, L, budget, seed, accept_fn):
    """Draws from a calibrated kernel of L gradients a transition, within `budget`.

    The first `--num_draws` transitions are kept whole (the ESS window); the rest of the
    budget (sampling gradients per chain; None: no more) continues the chains, thinned
    so that at most `--num_draws` draws per chain are stored for R-hat and bias.
    """
    window_n = FLAGS.num_draws
    transitions = window_n if budget is None else max(window_n, int(np.ceil(budget / L)))
    thin = int(np.ceil(transitions / FLAGS.num_draws))
    rest_n = (transitions - window_n) // thin
    trace_fn = lambda _, pkr: accept_fn(pkr)  # noqa: E731

    @tf.function(jit_compile=True)
    def run(state, num_results, thin, seed):
        return tfp.mcmc.sample_chain(
            num_results,
            state,
            kernel=kernel,
            num_steps_between_results=thin - 1,
            trace_fn=trace_fn,
            seed=seed,
        )

    window, accept = run(state, window_n, 1, seed)
    draws, accepts = window.numpy()[thin - 1 :: thin], [accept.numpy()]
    if rest_n:
        rest, accept = run(window[-1], rest_n, thin, tfp.random.split_seed(seed)[1])
        draws = np.concatenate([draws, rest.numpy()])
        accepts.append(accept.numpy())
    chains = window.shape[1]
    return dict(
        window=window.numpy(),
        draws=draws,
        window_grads=window_n * chains * L,
        sampling_grads=float((window_n + rest_n * thin) * L),
        accept=float(np.concatenate(accepts).mean()),
    )


def _tfp_windowed(kind, jd, pins, parts, init, seed, budget=None):
    # TFP's windowed samplers cannot thin, so windowed HMC keeps `--num_draws` draws
    # (its sampling gradients are reported with it) rather than NUTS's budget.
    del budget
    draws_n, steps = FLAGS.num_draws, FLAGS.num_adaptation_steps
    current = {k: tf.constant(v) for k, v in _unflatten(parts, init).items()}
    sampler = tfp.experimental.mcmc.windowed_adaptive_nuts
    extra = {}
    if kind == "hmc":
        sampler = tfp.experimental.mcmc.windowed_adaptive_hmc
        extra = dict(num_leapfrog_steps=FLAGS.num_leapfrog_steps)

    def trace_fn(state, bijector, is_adapting, pkr):
        del state, bijector, is_adapting
        ratio = unnest.get_innermost(pkr, "log_accept_ratio")
        out = dict(accept=tf.minimum(1.0, tf.exp(ratio)))
        if kind == "nuts":
            out["leapfrogs"] = unnest.get_innermost(pkr, "leapfrogs_taken")
        return out

    @tf.function(jit_compile=True)
    def run():
        return sampler(
            draws_n,
            jd,
            n_chains=init.shape[0],
            num_adaptation_steps=steps,
            current_state=current,
            discard_tuning=False,
            trace_fn=trace_fn,
            seed=seed,
            **extra,
            **pins,
        )

    draws, trace = run()
    draws = _flatten(parts, {k: v.numpy() for k, v in draws.items()})[steps:]
    accept = trace["accept"].numpy()
    if kind == "nuts":
        leapfrogs = trace["leapfrogs"].numpy().astype(np.float64)
        warm, sampling = leapfrogs[:steps].sum() / init.shape[0], leapfrogs[steps:].sum()
    else:
        warm = steps * FLAGS.num_leapfrog_steps
        sampling = draws_n * init.shape[0] * FLAGS.num_leapfrog_steps
    run = dict(
        window=draws,
        draws=draws,
        window_grads=sampling,
        sampling_grads=float(sampling / init.shape[0]),
        accept=float(accept[steps:].mean()),
    )
    return run, dict(warmup_grads=float(warm), warmup_hvps=0.0)


def _tfp_dual_averaging(log_prob, init, seed, budget=None):
    """TFP's HMC, h by `DualAveragingStepSizeAdaptation` over 80 % of the warm-up."""
    steps, L = FLAGS.num_adaptation_steps, FLAGS.num_leapfrog_steps
    kernel = tfp.mcmc.DualAveragingStepSizeAdaptation(
        tfp.mcmc.HamiltonianMonteCarlo(log_prob, step_size=0.1, num_leapfrog_steps=L),
        num_adaptation_steps=int(0.8 * steps),
    )

    @tf.function(jit_compile=True)
    def warm_up():
        return tfp.mcmc.sample_chain(
            steps,
            tf.constant(init),
            kernel=kernel,
            trace_fn=None,
            return_final_kernel_results=True,
            seed=seed,
        )

    warm = warm_up()
    step_size = warm.final_kernel_results.new_step_size
    sampler = tfp.mcmc.HamiltonianMonteCarlo(log_prob, step_size, num_leapfrog_steps=L)
    accept_fn = lambda pkr: tf.minimum(1.0, tf.exp(pkr.log_accept_ratio))  # noqa: E731
    run = _sample(sampler, warm.all_states[-1], L, budget, seed, accept_fn)
    return run, dict(warmup_grads=float(steps * L), warmup_hvps=0.0)


def _ours(kernel, preconditioner, rule, log_prob, init, seed, budget=None):
    auto = kernel == "hmc_auto"  # L chosen after the warm-up (adapt_kernel's "auto")
    kernel = "hmc" if auto else kernel
    L = 1 if kernel == "mala" else FLAGS.num_leapfrog_steps
    warmup_L = mcmc.adapt.AUTO_WARMUP_LEAPFROG_STEPS if auto else L
    steps, d = FLAGS.num_adaptation_steps, init.shape[1]
    result = mcmc.adapt_kernel(
        log_prob,
        tf.constant(init),
        kernel=kernel,
        preconditioner=preconditioner,
        num_adaptation_steps=steps,
        num_leapfrog_steps="auto" if auto else L,
        step_size_adaptation=rule,
        seed=seed,
    )
    L = result.kernel.num_leapfrog_steps
    accept_fn = lambda pkr: tf.minimum(1.0, tf.exp(pkr.log_accept_ratio))  # noqa: E731
    run = _sample(result.kernel, result.final_state, L, budget, seed, accept_fn)
    main = steps - steps // 5
    hvps = main * (1 + (d if warmup_L >= 2 else 0))
    grads = steps * warmup_L + 41 * warmup_L + main
    if auto:  # the choice of L (4 transitions per candidate) and h's re-tuning at that L
        grads += 4 * sum(result.trajectory_length.candidates) + (steps // 5) * L
        print(f"  chosen L = {L}", file=sys.stderr)
    return run, dict(warmup_grads=float(grads), warmup_hvps=float(hvps))


SAMPLERS = {
    "sm_mala_diag": ("ours", "mala", "diag", None),
    "sm_mala_tril": ("ours", "mala", "tril", None),
    "sm_hmc_diag": ("ours", "hmc", "diag", None),
    "sm_hmc_tril": ("ours", "hmc", "tril", None),
    "sm_hmc_tril_paper": ("ours", "hmc", "tril", "speed_measure"),
    "sm_hmc_diag_auto": ("ours", "hmc_auto", "diag", None),
    "sm_hmc_tril_auto": ("ours", "hmc_auto", "tril", None),
    "tfp_nuts": ("windowed", "nuts"),
    "tfp_windowed_hmc": ("windowed", "hmc"),
    "tfp_hmc_dual_averaging": ("dual_averaging",),
}


def _run(spec, jd, pins, parts, log_prob, init, seed, budget):
    if spec[0] == "ours":
        return _ours(*spec[1:], log_prob, init, seed, budget)
    if spec[0] == "windowed":
        return _tfp_windowed(spec[1], jd, pins, parts, init, seed, budget)
    return _tfp_dual_averaging(log_prob, init, seed, budget)


def _ordered(samplers):
    """`samplers` with NUTS first: its sampling gradients are the others' budget."""
    return sorted(samplers, key=lambda name: name != "tfp_nuts")


def _reference(name, jd, pins, parts, exact):
    if exact is not None:
        return exact
    path = os.path.join(FLAGS.workdir, f"reference_{name}.json")
    if os.path.exists(path):
        with open(path) as f:
            data = json.load(f)
        return np.array(data["mean"]), np.array(data["sd"])
    draws_n = FLAGS.num_draws
    FLAGS.num_draws = 4 * draws_n
    init = _init(parts, FLAGS.num_chains, FLAGS.seed + 100)
    run, _ = _tfp_windowed("nuts", jd, pins, parts, init, [FLAGS.seed + 100, 1])
    FLAGS.num_draws = draws_n
    flat = run["draws"].reshape(-1, run["draws"].shape[-1])
    data = dict(mean=flat.mean(0).tolist(), sd=flat.std(0).tolist())
    with open(path, "w") as f:
        json.dump(data, f)
    return np.array(data["mean"]), np.array(data["sd"])


def main(argv):
    del argv
    if not FLAGS.workdir:
        raise app.UsageError("error: --workdir is required (references and results are cached).")
    os.makedirs(FLAGS.workdir, exist_ok=True)
    results_path = os.path.join(FLAGS.workdir, "results.json")
    results = {}
    if os.path.exists(results_path):
        with open(results_path) as f:
            results = json.load(f)
    for name in FLAGS.targets or list(TARGETS):
        jd, pins, parts, exact = TARGETS[name]()
        pinned = jd.experimental_pin(**pins) if pins else jd

        def log_prob(state, pinned=pinned, parts=parts):
            return pinned.unnormalized_log_prob(_unflatten(parts, state))

        reference = _reference(name, jd, pins, parts, exact)
        init = _init(parts, FLAGS.num_chains, FLAGS.seed)
        for sampler in _ordered(FLAGS.samplers or list(SAMPLERS)):
            key = f"{name}/{sampler}"
            if key in results:
                continue
            nuts = results.get(f"{name}/tfp_nuts", {})
            budget = nuts.get("sampling_grads") if FLAGS.match_nuts_budget else None
            start = time.time()
            run, cost = _run(
                SAMPLERS[sampler], jd, pins, parts, log_prob, init, [FLAGS.seed, 7], budget
            )
            row = _metrics(run, reference)
            row.update(cost, seconds=time.time() - start, sampling_grads=run["sampling_grads"])
            results[key] = row
            print(key, json.dumps({k: round(v, 3) for k, v in row.items()}), flush=True)
            with open(results_path, "w") as f:
                json.dump(results, f, indent=1)
    _print_table(results)


def _print_table(results):
    print(
        "| target | sampler | ESS_min/1k grads | ESS_med/1k | R-hat | bias/sd | accept | "
        "warm-up grads | warm-up HVPs | sampling grads | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for key, r in results.items():
        target, sampler = key.split("/")
        print(
            f"| {target} | {sampler} | {r['ess_min']:.2f} | {r['ess_med']:.2f} | {r['rhat']:.3f} "
            f"| {r['bias']:.2f} | {r['accept']:.2f} | {r['warmup_grads']:.0f} | "
            f"{r['warmup_hvps']:.0f} | {r.get('sampling_grads', float('nan')):.0f} | "
            f"{r['seconds']:.0f} |"
        )


if __name__ == "__main__":
    app.run(main)
