"""Importance-sampled log-likelihood against the linear-Gaussian model's exact p(x)."""

import numpy as np
import pytest

from tests.linear_model import LinearGaussianCase
from tf_smvae import evaluation


def _orthogonal_case():
    """W with orthogonal columns: the posterior is diagonal and the encoder exact."""
    case = LinearGaussianCase(num_points=30)
    q, _ = np.linalg.qr(case.weight)
    case.set_weight(q * np.array([2.0, 1.0, 0.5]))
    return case


def test_exact_posterior_proposal_gives_exact_answer():
    # With r(z|x) = p(z|x) every weight equals p(x): the estimate is exact for any S,
    # and the effective sample size is S.
    case = _orthogonal_case()
    result = evaluation.log_likelihood(case.model(), case.x, num_samples=7, tau=1.0, seed=3)
    np.testing.assert_allclose(result.per_example, case.exact_log_likelihood(), atol=1e-4)
    np.testing.assert_allclose(result.ess_per_example, 7.0, rtol=1e-4)


def test_matches_exact_likelihood_with_inflated_approximate_proposal():
    # Correlated posterior, diagonal proposal, tau = 1.5: per-example Monte-Carlo error
    # ~ sqrt((S / ESS - 1) / S) ~ 0.02 nats at S = 20000; the mean over 20 examples is
    # checked to 0.03 nats and every example to 0.1 nats (5 standard errors).
    case = LinearGaussianCase(num_points=20)
    result = evaluation.log_likelihood(
        case.model(), case.x, num_samples=20000, tau=1.5, chunk_size=2500, seed=5
    )
    error = result.per_example - case.exact_log_likelihood()
    assert abs(error.mean()) < 0.03
    assert np.abs(error).max() < 0.1
    assert 1.0 <= result.ess <= 20000


def test_estimate_tracks_the_model_it_is_given():
    # The estimator must follow the model's own p(x), not anything fixed: with W doubled,
    # it matches that model's exact likelihood and misses the original one by far more
    # than the Monte-Carlo tolerance.
    case = LinearGaussianCase(num_points=20)
    original = case.exact_log_likelihood()
    case.set_weight(2.0 * case.weight)
    result = evaluation.log_likelihood(case.model(), case.x, num_samples=5000, seed=5)
    error = result.per_example - case.exact_log_likelihood()
    assert abs(error.mean()) < 0.05
    assert np.mean(np.abs(result.per_example - original)) > 0.5


def test_chunks_cover_exactly_num_samples():
    # S not a multiple of the chunk size: the masked last chunk must not add particles.
    # With the exact proposal each weight is p(x), so the ESS counts the particles.
    case = _orthogonal_case()
    model = case.model()
    for num_samples, chunk in [(10, 4), (10, 10), (1, 3), (9999, 1000)]:
        result = evaluation.log_likelihood(
            model, case.x[:4], num_samples=num_samples, tau=1.0, chunk_size=chunk, seed=0
        )
        np.testing.assert_allclose(result.ess_per_example, num_samples, rtol=1e-3)
        np.testing.assert_allclose(result.per_example, case.exact_log_likelihood()[:4], atol=1e-4)


def test_seeded_and_batch_independent():
    case = LinearGaussianCase(num_points=12)
    model = case.model()
    first = evaluation.log_likelihood(model, case.x, num_samples=300, seed=9, batch_size=12)
    again = evaluation.log_likelihood(model, case.x, num_samples=300, seed=9, batch_size=12)
    other = evaluation.log_likelihood(model, case.x, num_samples=300, seed=10, batch_size=12)
    np.testing.assert_array_equal(first.per_example, again.per_example)
    assert not np.array_equal(first.per_example, other.per_example)
    # A short last batch is weighted by its size: the mean is the per-example mean.
    uneven = evaluation.log_likelihood(model, case.x, num_samples=300, seed=9, batch_size=5)
    assert uneven.per_example.shape == (12,)
    assert uneven.log_likelihood == pytest.approx(np.mean(uneven.per_example))


def test_bits_per_dim_for_discrete_likelihoods():
    import tf_smvae

    model = tf_smvae.VAE((4, 4, 1), 2, network_kwargs={"hidden_units": (8,)})
    x = (np.random.default_rng(0).random((6, 4, 4, 1)) > 0.5).astype(np.float32)
    result = evaluation.log_likelihood(model, x, num_samples=20, seed=0)
    assert result.bits_per_dim == pytest.approx(-result.log_likelihood / (16 * np.log(2.0)))
    assert result.to_dict()["num_examples"] == 6


def test_defensive_proposal_stays_unbiased_and_rescues_a_too_narrow_one():
    # tau = 0.2 makes the encoder proposal much narrower than the (correlated) posterior:
    # alone it under-estimates log p(x) by far more than the Monte-Carlo error. Half the
    # particles from tau = 3, weighted against the mixture, must be unbiased again
    # (a wrong mixture density or particle count would show as a bias here).
    case = LinearGaussianCase(num_points=20)
    exact = case.exact_log_likelihood()
    options = dict(num_samples=20000, tau=0.2, chunk_size=2500, seed=5)
    narrow = evaluation.log_likelihood(case.model(), case.x, **options)
    mixed = evaluation.log_likelihood(case.model(), case.x, defensive_tau=3.0, **options)
    assert (narrow.per_example - exact).mean() < -0.1
    error = mixed.per_example - exact
    assert abs(error.mean()) < 0.03
    assert np.abs(error).max() < 0.1
    assert mixed.to_dict()["defensive_tau"] == 3.0 and narrow.to_dict()["defensive_tau"] is None


def test_defensive_chunks_cover_exactly_num_samples():
    # Both proposals exact (tau = 1): every weight is p(x) whatever the split, so the ESS
    # counts the particles drawn: S - floor(S/2) + floor(S/2) = S, odd S and chunking too.
    case = _orthogonal_case()
    model = case.model()
    for num_samples, chunk in [(11, 4), (10, 10), (2, 3), (999, 100)]:
        result = evaluation.log_likelihood(
            model,
            case.x[:4],
            num_samples=num_samples,
            tau=1.0,
            defensive_tau=1.0,
            chunk_size=chunk,
            seed=0,
        )
        np.testing.assert_allclose(result.ess_per_example, num_samples, rtol=1e-3)
        np.testing.assert_allclose(result.per_example, case.exact_log_likelihood()[:4], atol=1e-4)


def test_defensive_proposal_with_an_mcmc_proposal():
    # A SpeedMeasureVAE's proposal runs chains: the defensive one runs its own, compiled.
    import tf_smvae

    model = tf_smvae.SpeedMeasureVAE(
        (4, 4, 1),
        latent_dim=2,
        kernel="mala",
        num_mcmc_steps=2,
        network_kwargs={"hidden_units": (8,)},
    )
    x = (np.random.default_rng(0).uniform(size=(3, 4, 4, 1)) > 0.5).astype(np.float32)
    result = evaluation.log_likelihood(model, x, num_samples=6, defensive_tau=4.0, seed=1)
    assert np.all(np.isfinite(result.per_example)) and result.per_example.shape == (3,)


@pytest.mark.parametrize(
    "bad",
    [
        {"num_samples": 0},
        {"tau": 0.0},
        {"defensive_tau": 0.0},
        {"defensive_tau": 2.0, "num_samples": 1},
    ],
)
def test_rejects_bad_arguments(bad):
    case = LinearGaussianCase(num_points=2)
    with pytest.raises(ValueError, match=next(iter(bad))):
        evaluation.log_likelihood(case.model(), case.x, **bad)


def _progress_lines(capsys, monkeypatch, seconds):
    import importlib

    log_likelihood_lib = importlib.import_module("tf_smvae.evaluation.log_likelihood")
    monkeypatch.setattr(log_likelihood_lib, "_PROGRESS_SECONDS", seconds)
    case = LinearGaussianCase(num_points=12)
    evaluation.log_likelihood(
        case.model(), case.x, num_samples=10, seed=0, batch_size=4, progress=True
    )
    return capsys.readouterr().err


def test_progress_in_a_log_file_is_whole_lines_at_most_every_interval(capsys, monkeypatch):
    # stderr captured by pytest is not a terminal: no carriage returns; with no interval a
    # line per batch, with a long one only the final line.
    every = _progress_lines(capsys, monkeypatch, 0.0)
    assert "\r" not in every
    lines = every.strip().splitlines()
    assert [line.split(",")[0] for line in lines] == [
        f"log-likelihood: batch {i}/3" for i in (1, 2, 3)
    ]
    assert "12 examples" in lines[-1] and "example-particles/s" in lines[-1]
    sparse = _progress_lines(capsys, monkeypatch, 3600.0).strip().splitlines()
    assert len(sparse) == 1 and sparse[0].startswith("log-likelihood: batch 3/3")
