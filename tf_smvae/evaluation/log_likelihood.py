"""Importance-sampled marginal log-likelihood of held-out data.

log p(x) ~= logsumexp_s w_s - log S,  w_s = log p(x|z_s) + log p(z_s) - log r(z_s|x),
z_s ~ r(z|x), where r is the model's `importance_proposal` (for a VAE the encoder's
Gaussian with variance inflated by tau). Particles are drawn in chunks of static size
with a running log-sum-exp, so memory is bounded for any S, and the particle count
may be a tensor (the SavedModel endpoint takes it as an input).
"""

import dataclasses
import math
import sys
import time

import numpy as np
import tensorflow as tf

from tf_smvae.data import checks as data_checks
from tf_smvae.util import seeds

__all__ = ["LogLikelihoodResult", "batch_log_likelihood", "log_likelihood"]

# Decoder outputs held at once per chunk (particles x examples x pixels), ~64 MiB float32.
_CHUNK_BUDGET = 16 * 1024 * 1024
# Seconds between progress lines when stderr is not a terminal (a log file).
_PROGRESS_SECONDS = 10.0
# `LogLikelihoodResult.low_ess_hint` warns below this mean ESS / S.
LOW_ESS_FRACTION = 0.05


@dataclasses.dataclass
class LogLikelihoodResult:
    """Held-out importance-sampling estimate.

    Attributes:
      log_likelihood: mean over examples of log p(x), nats.
      bits_per_dim: -log_likelihood / (D ln 2) for discrete likelihoods, else None.
      ess: mean over examples of the importance-sampling effective sample size.
      per_example: float64 numpy array [N] of log p(x), nats.
      ess_per_example: float64 numpy array [N].
      num_samples: S, the importance samples per example.
      tau: the proposal's variance inflation.
      seconds: wall time of the estimate.
      defensive_tau: the defensive proposal's inflation, or None.
    """

    log_likelihood: float
    bits_per_dim: float | None
    ess: float
    per_example: np.ndarray
    ess_per_example: np.ndarray
    num_samples: int
    tau: float
    seconds: float
    defensive_tau: float | None = None

    def __repr__(self):
        """One line: the estimate and its quality, not the per-example arrays."""
        bits = "" if self.bits_per_dim is None else f", bits_per_dim={self.bits_per_dim:.4f}"
        defensive = "" if self.defensive_tau is None else f", defensive_tau={self.defensive_tau}"
        return (
            f"LogLikelihoodResult(log_likelihood={self.log_likelihood:.3f}{bits}, "
            f"ess={self.ess:.1f} of S={self.num_samples}, "
            f"num_examples={self.per_example.shape[0]}, tau={self.tau}{defensive}, "
            f"seconds={self.seconds:.1f})"
        )

    def low_ess_hint(self, fraction=LOW_ESS_FRACTION):
        """A hint when the mean ESS is below `fraction` of S (else None).

        A low ESS means few importance samples carry the weight: the estimate is noisy
        and biased low. A wider proposal usually helps.

        Args:
          fraction: the ESS / S below which to warn.

        Returns:
          The hint as a string, or None.
        """
        if self.ess >= fraction * self.num_samples:
            return None
        # Suggestions relative to what this estimate used (not a fixed value it may
        # already have).
        wider = f"{max(1.5, 2.0 * self.tau):g}"
        if self.defensive_tau is None:
            defensive = f"a defensive mixture (--defensive_tau, e.g. {max(4.0, 3.0 * self.tau):g})"
        else:
            defensive = f"a wider defensive proposal (--defensive_tau above {self.defensive_tau:g})"
        return (
            f"hint: the mean importance-sampling ESS is {self.ess:.1f} of {self.num_samples} "
            f"samples ({100 * self.ess / self.num_samples:.1f} % < {100 * fraction:.0f} %): "
            f"the estimate is noisy and biased low. Try a wider proposal (--tau={wider}; "
            f"this one used {self.tau:g}), {defensive}, or more samples."
        )

    def to_dict(self):
        """A JSON-ready summary (no per-example arrays)."""
        return {
            "log_likelihood_nats": self.log_likelihood,
            "bits_per_dim": self.bits_per_dim,
            "ess_mean": self.ess,
            "ess_min": float(np.min(self.ess_per_example)),
            "num_examples": int(self.per_example.shape[0]),
            "num_samples": self.num_samples,
            "tau": self.tau,
            "defensive_tau": self.defensive_tau,
            "seconds": self.seconds,
        }


def _log_add_exp(a, b):
    """log(exp(a) + exp(b)) elementwise, safe when both are -inf."""
    m = tf.maximum(a, b)
    m_safe = tf.where(tf.math.is_finite(m), m, tf.zeros_like(m))
    return m_safe + tf.math.log(tf.exp(a - m_safe) + tf.exp(b - m_safe))


def default_chunk_size(model, batch_size):
    """Particles per chunk so that one chunk's decoder output stays near 64 MiB."""
    pixels = math.prod(model.image_shape) * model.likelihood.num_params
    return max(1, _CHUNK_BUDGET // max(1, pixels * batch_size))


def _proposals(model, x, num_samples, tau, defensive_tau, seed):
    """`[(proposal, count)]`: the model's proposal at `tau` and, with `defensive_tau`, at
    that inflation too, S - floor(S/2) and floor(S/2) particles (seeds: the first is
    `seed` itself, so one proposal draws what it always drew)."""
    if defensive_tau is None:
        return [(model.importance_proposal(x, tau, seed=seed), num_samples)]
    wide_seed = tf.random.experimental.stateless_fold_in(seed, 1)
    num_wide = num_samples // 2
    return [
        (model.importance_proposal(x, tau, seed=seed), num_samples - num_wide),
        (model.importance_proposal(x, defensive_tau, seed=wide_seed), num_wide),
    ]


def _mixture_log_prob(proposals, num_samples, z):
    """log sum_k (S_k / S) r_k(z): the balance-heuristic density of all S particles."""
    total = tf.cast(num_samples, z.dtype)
    terms = [
        tf.math.log(tf.cast(count, z.dtype) / total) + proposal.log_prob(z)
        for proposal, count in proposals
    ]
    return terms[0] if len(terms) == 1 else tf.reduce_logsumexp(tf.stack(terms), axis=0)


def batch_log_likelihood(model, x, num_samples, tau, chunk_size, seed, defensive_tau=None):
    """Per-example log p(x) and effective sample size for one batch.

    Traceable and XLA-compilable: `num_samples` may be a scalar tensor; the loop runs
    chunks of static size and masks the particles past each proposal's count in the last
    one.

    With `defensive_tau` the S particles come half from the proposal at `tau` and half
    from the proposal at `defensive_tau`, each weighted against their mixture (multiple
    importance sampling with the balance heuristic [1]: unbiased for p(x) like one
    proposal, and never much worse than the better of the two for any example; a wider
    defensive proposal [2] guards against an encoder narrower than the posterior).

    Args:
      model: a `tf_smvae.VAE` (or subclass) providing `importance_proposal` and `log_joint`.
      x: images [B, *image_shape].
      num_samples: S, int or scalar int32 tensor.
      tau: variance inflation of the proposal.
      chunk_size: Python int, particles per chunk (shared by the proposals).
      seed: int32[2] seed.
      defensive_tau: optional variance inflation of a second, defensive proposal.

    Returns:
      `(log_px, ess)`, each float [B].

    #### References

    [1] Veach, E. and Guibas, L. Optimally combining sampling techniques for Monte Carlo
        rendering. SIGGRAPH 1995.
    [2] Hesterberg, T. Weighted average importance sampling and defensive mixture
        distributions. Technometrics, 1995.
    """
    proposal_seed, particle_seed = seeds.split_seed(seed, n=2, salt="log_likelihood")
    num_samples = tf.cast(num_samples, tf.int32)
    proposals = _proposals(model, x, num_samples, tau, defensive_tau, proposal_seed)
    chunk = max(1, chunk_size // len(proposals))
    num_chunks = (proposals[0][1] + chunk - 1) // chunk
    batch = tf.shape(x)[:1]
    neg_inf = tf.fill(batch, tf.constant(-np.inf, model.compute_dtype))

    def body(i, log_sum, log_sum_sq):
        chunk_seed = tf.random.experimental.stateless_fold_in(particle_seed, i)
        index = i * chunk + tf.range(chunk)
        draws, masks = [], []
        for k, (proposal, count) in enumerate(proposals):
            k_seed = (
                chunk_seed if k == 0 else tf.random.experimental.stateless_fold_in(chunk_seed, k)
            )
            draws.append(proposal.sample(chunk, seed=k_seed))
            masks.append(index < count)
        z = draws[0] if len(draws) == 1 else tf.concat(draws, 0)
        log_w = model.log_joint(x, z) - _mixture_log_prob(proposals, num_samples, z)
        log_w = tf.where(tf.concat(masks, 0)[:, None], log_w, -np.inf)
        log_sum = _log_add_exp(log_sum, tf.reduce_logsumexp(log_w, axis=0))
        log_sum_sq = _log_add_exp(log_sum_sq, tf.reduce_logsumexp(2.0 * log_w, axis=0))
        return i + 1, log_sum, log_sum_sq

    _, log_sum, log_sum_sq = tf.while_loop(
        lambda i, *_: i < num_chunks, body, (tf.constant(0), neg_inf, neg_inf)
    )
    log_num = tf.math.log(tf.cast(num_samples, log_sum.dtype))
    return log_sum - log_num, tf.exp(2.0 * log_sum - log_sum_sq)


class _Progress:
    """Progress of the estimate on stderr: one line rewritten in place on a terminal,
    else whole lines at most every `_PROGRESS_SECONDS` (and a last one), so that a log
    file does not fill up with one line per batch."""

    def __init__(self, num_samples, num_batches, stream=None):
        self.stream = stream or sys.stderr
        self.num_samples = int(num_samples)
        self.num_batches = num_batches
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.time()
        self.last = self.start
        self.pending = None

    def _line(self, batches, examples, mean):
        seconds = time.time() - self.start
        rate = examples * self.num_samples / max(seconds, 1e-9)
        of = f"/{self.num_batches}" if self.num_batches else ""
        return (
            f"log-likelihood: batch {batches}{of}, {examples} examples, {seconds:.0f}s, "
            f"{rate:.0f} example-particles/s, running mean {mean:.3f} nats"
        )

    def update(self, batches, examples, mean):
        """Reports `batches` done (`examples` examples, running mean log p(x))."""
        if self.tty:
            print("\r" + self._line(batches, examples, mean), end="", file=self.stream)
            self.stream.flush()
            return
        self.pending = (batches, examples, mean)
        if time.time() - self.last >= _PROGRESS_SECONDS:
            self._flush_pending()

    def _flush_pending(self):
        if self.pending is not None:
            print(self._line(*self.pending), file=self.stream, flush=True)
            self.pending = None
        self.last = time.time()

    def close(self):
        """Ends the progress output (a newline on a terminal, else the last line)."""
        if self.tty:
            print(file=self.stream, flush=True)
        else:
            self._flush_pending()


def _num_batches(dataset):
    count = int(dataset.cardinality())
    return count if count > 0 else None


def _as_batches(data, batch_size):
    if isinstance(data, tf.data.Dataset):
        return data.map(lambda *element: element[0])  # images of (images, labels) or images
    images = np.asarray(data, dtype=np.float32)
    return tf.data.Dataset.from_tensor_slices(images).batch(batch_size)


def log_likelihood(
    model,
    data,
    num_samples=1000,
    tau=1.5,
    chunk_size=None,
    seed=0,
    batch_size=100,
    jit_compile=True,
    progress=False,
    defensive_tau=None,
):
    """Importance-sampled log p(x) of every example in `data`.

    The result is a per-example average (not a per-batch one), so a short last batch
    counts by its size. Nothing in the model is updated.

    Args:
      model: a `tf_smvae.VAE` or subclass.
      data: a batched `tf.data.Dataset` of images (or of `(images, labels)`), or an
        array [N, *image_shape].
      num_samples: S, importance samples per example (paper: 10000).
      tau: variance inflation of the proposal (paper: 1.5).
      chunk_size: particles per chunk; None picks one that bounds memory.
      seed: int or int32[2] seed; the same seed gives the same estimate.
      batch_size: batch size when `data` is an array.
      jit_compile: XLA-compile the per-batch estimate.
      progress: report progress on stderr (in place on a terminal; else a whole line at
        most every 10 s).
      defensive_tau: optional second variance inflation: half the particles come from
        the proposal at this inflation, all weighted against the two proposals' mixture
        (`batch_log_likelihood`). Still unbiased for p(x); tighter when the encoder is
        narrower than the posterior (e.g. 5 with tau 1.5, BUILD_NOTES).

    Returns:
      A `LogLikelihoodResult`.

    Raises:
      ValueError: if `num_samples` < 1 (< 2 with `defensive_tau`), `tau` or
        `defensive_tau` <= 0, or `data` is empty.
      DataError: naming `data` for data the likelihood cannot score (NaN/inf, wrong shape
        or dtype, out-of-range values), checked before any estimate.
      FloatingPointError: if the model gives a non-finite log p(x) for some example.

    #### References

    [1] Burda, Y., Grosse, R. and Salakhutdinov, R. Importance weighted autoencoders.
        ICLR 2016.
    [2] Kong, A. A note on importance sampling using standardized weights. 1992 (ESS).
    """
    if int(num_samples) < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}.")
    if defensive_tau is not None and not (defensive_tau > 0 and int(num_samples) >= 2):
        raise ValueError(
            f"defensive_tau must be > 0 and num_samples >= 2, got {defensive_tau} and "
            f"{num_samples}."
        )
    data_checks.check_model_input(model, data, "data")
    dataset = _as_batches(data, batch_size)
    fns = {}
    log_px, ess = [], []
    start = time.time()
    reporter = _Progress(num_samples, _num_batches(dataset)) if progress else None
    base_seed = seeds.as_seed(seed)
    for index, x in enumerate(dataset):
        if isinstance(data, tf.data.Dataset):
            model.likelihood.check_data(x, f"data (batch {index})")
        if index == 0 and model.warm_start_kernel(x, seeds.split_seed(base_seed, 1, "warm")[0]):
            print(
                "The MCMC kernel was never adapted: warm-started on the first batch "
                f"(step size {float(model.refinement.step_size(training=False)):.4g}).",
                flush=True,
            )
        size = int(x.shape[0])
        chunk = chunk_size or default_chunk_size(model, size)
        chunk = min(int(chunk), int(num_samples))
        if (size, chunk) not in fns:
            fns[(size, chunk)] = tf.function(
                lambda x, s, c=chunk: batch_log_likelihood(
                    model, x, num_samples, tau, c, s, defensive_tau
                ),
                jit_compile=jit_compile,
                reduce_retracing=True,
            )
        batch_seed = tf.random.experimental.stateless_fold_in(base_seed, index)
        lp, e = fns[(size, chunk)](x, batch_seed)
        log_px.append(_check_finite(lp.numpy().astype(np.float64), index))
        ess.append(e.numpy().astype(np.float64))
        if reporter:
            values = np.concatenate(log_px)
            reporter.update(index + 1, len(values), float(np.mean(values)))
    if reporter:
        reporter.close()
    if not log_px:
        raise ValueError("log_likelihood got an empty dataset.")
    log_px, ess = np.concatenate(log_px), np.concatenate(ess)
    return _summarise(model, log_px, ess, num_samples, tau, defensive_tau, start)


def _check_finite(log_px, index):
    """Raises FloatingPointError when batch `index` gave a NaN/inf log p(x)."""
    bad = np.flatnonzero(~np.isfinite(log_px))
    if bad.size:
        raise FloatingPointError(
            f"log p(x) is {log_px[bad[0]]} for example {bad[0]} of batch {index} (and "
            f"{bad.size - 1} more in that batch): the model gives non-finite densities."
        )
    return log_px


def _summarise(model, log_px, ess, num_samples, tau, defensive_tau, start):
    mean = float(np.mean(log_px))
    bits = None
    if getattr(model.likelihood, "is_discrete", False):
        bits = -mean / (math.prod(model.image_shape) * math.log(2.0))
    return LogLikelihoodResult(
        log_likelihood=mean,
        bits_per_dim=bits,
        ess=float(np.mean(ess)),
        per_example=log_px,
        ess_per_example=ess,
        num_samples=int(num_samples),
        tau=float(tau),
        seconds=time.time() - start,
        defensive_tau=defensive_tau,
    )
