"""What `bin/evaluate.py` and `bin/export.py` do with a finished (or interrupted) run."""

import json
import os

from tf_smvae import evaluation
from tf_smvae import export as export_lib
from tf_smvae.training import builders
from tf_smvae.training import train_lib

__all__ = ["evaluate", "export"]


def _eval_settings(config, overrides):
    settings = dict(config.eval)
    settings.update({key: value for key, value in overrides.items() if value is not None})
    return settings


def evaluate(workdir, **overrides):
    """Held-out importance-sampled log-likelihood of a run, written to workdir/eval.json.

    Args:
      workdir: a training run's directory.
      **overrides: values replacing `config.eval` fields (num_samples, tau,
        num_examples, chunk_size, seed); None keeps the config's.

    Returns:
      The dict written to eval.json.
    """
    config = train_lib.load_config(workdir)
    settings = _eval_settings(config, overrides)
    with config.unlocked():
        config.dataset.num_test_examples = settings["num_examples"]
    _, test, image_shape = builders.build_datasets(config)
    _, model = train_lib.restore_model(workdir, image_shape)
    result = evaluation.log_likelihood(
        model,
        test,
        num_samples=settings["num_samples"],
        tau=settings["tau"],
        chunk_size=settings["chunk_size"],
        seed=settings["seed"],
        progress=True,
    )
    summary = {"split": "test", "dataset": config.dataset.name, **result.to_dict()}
    path = train_lib.RunPaths(workdir).eval
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as stream:
        json.dump(summary, stream, indent=2)
    os.replace(tmp, path)
    bits = summary["bits_per_dim"]
    print(
        f"log-likelihood {summary['log_likelihood_nats']:.3f} nats"
        + (f" ({bits:.4f} bits/dim)" if bits is not None else "")
        + f", ESS {summary['ess_mean']:.1f} of {summary['num_samples']}, "
        f"{summary['num_examples']} examples. Wrote {path}",
        flush=True,
    )
    return summary


def export(workdir, out=None):
    """Exports a run's newest checkpoint as a SavedModel; returns its path."""
    config, model = train_lib.restore_model(workdir)
    path = out or train_lib.RunPaths(workdir).export
    export_lib.export_saved_model(model, path, tau=config.eval.tau)
    names = [*export_lib.ENDPOINTS, *(["refine"] if hasattr(model, "refine") else [])]
    print(f"Wrote SavedModel to {path} (endpoints: {', '.join(names)})")
    return path
