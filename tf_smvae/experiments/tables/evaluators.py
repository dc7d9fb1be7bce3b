"""How the reproduction tables score a trained run: a registry of evaluators.

`log_likelihood` (Table 1): importance-sampled test log-likelihood. `kid` (Tables 2 and
6): KID of prior samples against the real test images. Each evaluator takes the study's
`Settings`, checks its flags before any training (`check`), reports the settings a stored
result depends on (`eval_settings`) and scores one model (`evaluate`).
"""

import numpy as np

from tf_smvae import data
from tf_smvae import evaluation
from tf_smvae.evaluation import features
from tf_smvae.evaluation import sample_quality
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.registry import Registry

__all__ = ["EVALUATORS"]

EVALUATORS = Registry("evaluation")


def _test_split(config, binarization, batch_size):
    """The run's test split (its first `dataset.num_test_examples`), in order."""
    return data.load(
        config.dataset.name,
        "test",
        batch_size=batch_size,
        likelihood=config.model.likelihood,
        binarization=binarization,
        data_dir=config.dataset.data_dir,
        shuffle=False,
        seed=config.seed,
        num_examples=config.dataset.num_test_examples,
        image_size=config.dataset.image_size,
    )


def _num_samples(settings, quick_default):
    if settings.num_samples is not None:
        return int(settings.num_samples)
    return quick_default if settings.quick else 10000


@EVALUATORS.register("log_likelihood")
class _LogLikelihood:
    """Table 1: IS log-likelihood of the test split (nats, and bits/dim when discrete).

    With `settings.defensive_tau` each run is also scored with the defensive mixture
    (half the particles from the proposal at `tau`, half at `defensive_tau`), reported as
    `log_likelihood_defensive`: a proposal that fits the posterior better scores higher
    under plain IS partly because its estimate is less biased, and the mixture shrinks
    that part of a gap between rows.
    """

    metrics = ("log_likelihood", "bits_per_dim", "log_likelihood_defensive")

    def __init__(self, settings):
        self.settings = settings

    def check(self):
        """Raises ConfigError for a bad --num_samples, --tau or --defensive_tau."""
        if self.eval_settings()["num_samples"] < 1:
            raise ConfigError(f"--num_samples must be >= 1, got {self.settings.num_samples}.")
        if not self.settings.tau > 0:
            raise ConfigError(f"--tau must be positive, got {self.settings.tau}.")
        defensive = self.settings.defensive_tau
        if defensive is not None and not defensive > 0:
            raise ConfigError(f"--defensive_tau must be positive, got {defensive}.")

    def eval_settings(self):
        values = {"num_samples": _num_samples(self.settings, 10), "tau": float(self.settings.tau)}
        if self.settings.defensive_tau is not None:
            values["defensive_tau"] = float(self.settings.defensive_tau)
        return values

    def _estimate(self, model, test, seed, defensive_tau=None):
        return evaluation.log_likelihood(
            model,
            test,
            num_samples=self.eval_settings()["num_samples"],
            tau=self.settings.tau,
            seed=seed,
            jit_compile=self.settings.jit_compile,
            progress=not self.settings.quick,
            defensive_tau=defensive_tau,
        ).to_dict()

    def evaluate(self, model, config, seed):
        test = _test_split(config, config.dataset.binarization, config.eval.batch_size)
        summary = self._estimate(model, test, seed)
        record = {
            "log_likelihood": summary["log_likelihood_nats"],
            "bits_per_dim": summary["bits_per_dim"],
            "ess_mean": summary["ess_mean"],
            "num_examples": summary["num_examples"],
        }
        if self.settings.defensive_tau is not None:
            defensive = self._estimate(model, test, seed, self.settings.defensive_tau)
            record["log_likelihood_defensive"] = defensive["log_likelihood_nats"]
            record["ess_mean_defensive"] = defensive["ess_mean"]
        return record


@EVALUATORS.register("kid")
class _KID:
    """Tables 2 and 6: KID of prior samples (decoder means) against the real test images.

    The real images are the test split's grey levels in [0, 1] (no binarisation), since the
    samples are decoder means; the feature extractor is loaded once, on first use.
    """

    metrics = ("kid",)

    def __init__(self, settings):
        self.settings = settings
        self._extractor = None
        self._real = {}

    def eval_settings(self):
        quick = self.settings.quick
        return {
            "num_samples": _num_samples(self.settings, 100),
            "feature_extractor": self.settings.feature_extractor,
            "inception_weights": self.settings.inception_weights,
            "num_subsets": 10 if quick else int(self.settings.kid_subsets),
            "subset_size": 50 if quick else int(self.settings.kid_subset_size),
        }

    def check(self):
        """Raises ConfigError for missing or bad KID flags, before any training."""
        features.check_extractor_spec(
            self.settings.feature_extractor, self.settings.inception_weights
        )
        if self.eval_settings()["num_samples"] < 2:
            raise ConfigError(
                f"--num_samples must be >= 2 for KID, got {self.settings.num_samples}."
            )

    def _feature_extractor(self):
        if self._extractor is None:
            self._extractor = features.load_extractor(
                self.settings.feature_extractor, inception_weights=self.settings.inception_weights
            )
        return self._extractor

    def _real_images(self, config):
        key = (config.dataset.name, config.dataset.num_test_examples)
        if key not in self._real:
            test = _test_split(config, "none", 1000)
            self._real[key] = np.concatenate([batch.numpy() for batch in test], axis=0)
        return self._real[key]

    def evaluate(self, model, config, seed):
        extractor = self._feature_extractor()
        settings = self.eval_settings()
        result = sample_quality.sample_kid(
            model,
            self._real_images(config),
            extractor,
            num_samples=settings["num_samples"],
            seed=seed,
            num_subsets=settings["num_subsets"],
            subset_size=settings["subset_size"],
        )
        return sample_quality.kid_record(result)
