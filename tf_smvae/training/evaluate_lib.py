"""What `bin/evaluate.py` and `bin/export.py` do with a finished (or interrupted) run."""

import json
import os

from tf_smvae import data
from tf_smvae import evaluation
from tf_smvae import export as export_lib
from tf_smvae.evaluation.kid import DEFAULT_NUM_SUBSETS as KID_NUM_SUBSETS
from tf_smvae.evaluation.kid import DEFAULT_SUBSET_SIZE as KID_SUBSET_SIZE
from tf_smvae.training import builders
from tf_smvae.training import train_lib
from tf_smvae.training.kid_images import KID_REAL_IMAGES
from tf_smvae.util import files
from tf_smvae.util.errors import ConfigError

__all__ = ["KID_REAL_IMAGES", "evaluate", "export"]


# KID fields of `config.eval` and their defaults, for configs (and runs) that predate them.
_KID_DEFAULTS = {
    "kid_feature_extractor": None,  # a .keras path, or "inception"
    "inception_weights": None,  # notop InceptionV3 .h5 (for "inception")
    "kid_num_samples": 10000,  # model samples
    "kid_num_subsets": KID_NUM_SUBSETS,
    "kid_subset_size": KID_SUBSET_SIZE,
    "kid_num_real": None,  # first N test images; None: the whole test split
    "kid_real_images": "grey_levels",  # grey_levels | likelihood
}


def _eval_settings(config, overrides):
    settings = {**_KID_DEFAULTS, **dict(config.eval)}
    settings.update({key: value for key, value in overrides.items() if value is not None})
    return settings


def _write_merged(path, results):
    """Merges `results` into the JSON object at `path` (if any) and writes it atomically."""
    summary = {}
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as stream:
                summary = json.load(stream)
        except ValueError as error:
            raise ValueError(
                f"{path!r} is not valid JSON ({error}); move it away to start a new one."
            ) from None
    summary.update(results)
    files.write_json(path, summary)
    return summary


def _log_likelihood(model, config, settings):
    """The importance-sampled log-likelihood entries of eval.json."""
    with config.unlocked():
        config.dataset.num_test_examples = settings["num_examples"]
    _, test, _ = builders.build_datasets(config)
    result = evaluation.log_likelihood(
        model,
        test,
        num_samples=settings["num_samples"],
        tau=settings["tau"],
        chunk_size=settings["chunk_size"],
        seed=settings["seed"],
        progress=True,
        defensive_tau=settings.get("defensive_tau"),  # absent in runs made before it
    )
    summary = result.to_dict()
    bits = summary["bits_per_dim"]
    print(
        f"log-likelihood {summary['log_likelihood_nats']:.3f} nats"
        + (f" ({bits:.4f} bits/dim)" if bits is not None else "")
        + f", ESS {summary['ess_mean']:.1f} of {summary['num_samples']}, "
        f"{summary['num_examples']} examples.",
        flush=True,
    )
    hint = result.low_ess_hint()
    if hint:
        print(hint, flush=True)
    return summary


def _kid_extractor(settings):
    """The feature extractor named by `kid_feature_extractor`, loaded before any other work."""
    spec = settings["kid_feature_extractor"]
    if spec is None:
        raise ConfigError(
            "KID needs a feature extractor (config.eval.kid_feature_extractor): pass "
            "--feature_extractor=DIR/extractor.keras (from bin/train_feature_extractor.py) or "
            "--feature_extractor=inception --inception_weights=FILE."
        )
    return evaluation.load_extractor(
        spec, inception_weights=settings["inception_weights"], batch_size=settings["batch_size"]
    )


def _kid(model, config, settings, extractor):
    """The KID entries of eval.json: model samples against the test split."""
    real = KID_REAL_IMAGES.get(settings["kid_real_images"], field="eval.kid_real_images")(
        config, settings["kid_num_real"]
    )
    result = evaluation.sample_kid(
        model,
        real,
        extractor,
        num_samples=settings["kid_num_samples"],
        seed=settings["seed"],
        num_subsets=settings["kid_num_subsets"],
        subset_size=settings["kid_subset_size"],
    )
    spec = settings["kid_feature_extractor"]
    summary = {
        (key if key.startswith("kid_") else f"kid_{key}"): value for key, value in result.items()
    }
    summary.update(
        kid_feature_extractor=spec if spec == "inception" else os.path.abspath(spec),
        kid_real_images=settings["kid_real_images"],
        kid_seed=settings["seed"],
    )
    print(
        f"KID {result['kid_mean']:.6f} +- {result['kid_std']:.6f} "
        f"({result['num_fake']} samples vs {result['num_real']} test images, "
        f"{result['num_subsets']} subsets of {result['subset_size']}).",
        flush=True,
    )
    return summary


def evaluate(workdir, *, log_likelihood=True, kid=False, **overrides):
    """Evaluates a run on its test split and merges the results into workdir/eval.json.

    Keys already in eval.json that this call does not compute are kept, so KID and the
    log-likelihood may be computed by separate calls.

    Args:
      workdir: a training run's directory.
      log_likelihood: estimate the importance-sampled log-likelihood.
      kid: compute KID between model samples and the test images (needs
        `kid_feature_extractor`).
      **overrides: values replacing `config.eval` fields (num_samples, tau, defensive_tau,
        num_examples,
        chunk_size, seed, kid_feature_extractor, inception_weights, kid_num_samples,
        kid_num_subsets, kid_subset_size, kid_num_real, kid_real_images); None keeps the
        config's.

    Returns:
      The dict written to eval.json.

    Raises:
      ConfigError: if nothing is asked for, KID without a feature extractor, or an unknown
        `kid_real_images`.
      FileNotFoundError: for a missing run, checkpoint or feature extractor file.
    """
    if not (log_likelihood or kid):
        raise ConfigError("Nothing to evaluate: ask for the log-likelihood and/or --kid.")
    config = train_lib.load_config(workdir)
    settings = _eval_settings(config, overrides)
    extractor = _kid_extractor(settings) if kid else None
    if kid:  # fail on a bad name before any long computation
        KID_REAL_IMAGES.get(settings["kid_real_images"], field="eval.kid_real_images")
    dataset = config.dataset
    image_shape = data.info(
        dataset.name, data_dir=dataset.data_dir, image_size=dataset.image_size
    ).image_shape
    _, model = train_lib.restore_model(workdir, image_shape)
    results = {"split": "test", "dataset": dataset.name}
    if log_likelihood:
        results.update(_log_likelihood(model, config.copy_and_resolve_references(), settings))
    if kid:
        results.update(_kid(model, config.copy_and_resolve_references(), settings, extractor))
    path = train_lib.RunPaths(workdir).eval
    summary = _write_merged(path, results)
    print(f"Wrote {path}", flush=True)
    return summary


def export(workdir, out=None):
    """Exports a run's newest checkpoint as a SavedModel; returns its path."""
    config, model = train_lib.restore_model(workdir)
    path = out or train_lib.RunPaths(workdir).export
    export_lib.export_saved_model(model, path, tau=config.eval.tau)
    names = [*export_lib.ENDPOINTS, *(["refine"] if hasattr(model, "refine") else [])]
    print(f"Wrote SavedModel to {path} (endpoints: {', '.join(names)})")
    return path
