"""Data augmentation with per-class VAEs (paper Table 3): sampling, classifier, study.

The study (`run`, behind `bin/reproduce_table3.py`) on a two-class `image_folder` dataset:

1. The folder's train split is divided, stratified by class, into the classifier's training
   images and a validation split for early stopping (`validation_fraction`, a fixed seed);
   the folder's test split is only used for the reported metrics (a `validation/` split
   folder, if the image folder has one, is not used).
2. Per row (VAE, VAE-gradHMC, VAE-dsHMC), seed and class, a VAE is trained with
   `train_lib.run` on that class's training images (its Keras validation data is the class's
   validation images), from `row_configs[row]` (configs/table3_augmentation.py).
3. max(N) images are sampled from the minority-class VAE's prior (the likelihood's mean
   image, quantised to uint8 like the real data); the study with N synthetic images uses the
   first N of them, so the sets are nested.
4. A small conv classifier (`build_classifier`) is trained on real + synthetic images with
   early stopping on the validation split, and scored on the test split: balanced accuracy,
   TPR and TNR with the minority class as the positive class. "No augmentation" is the same
   classifier on the real images only. Row, N and no-augmentation runs with the same seed
   share the classifier's initialisation and data order.

workdir/
  split.json                              class names, positive class, the split's indices
  study.json                              the settings finished runs depend on (checked)
  class_data/<class>/{train,test}.npz     per-class VAE data (test.npz = validation images)
  vaes/<row>/seed<k>/<class>/             train_lib workdirs of the per-class VAEs
  synthetic/<row>/seed<k>/<class>/*.png   the sampled minority images (an image_folder class)
  runs/<row>/seed<k>/N=<n>.json           one finished classifier run (a rerun skips it)
  runs/no_augmentation/seed<k>.json
  samples/*.png                           grids of real and synthetic images per class
  results.json                            {dataset: {"<row>/N=<n>" | "No augmentation":
                                            {"balanced_accuracy" | "tpr" | "tnr":
                                             {"mean", "std", "seeds"}}}}
  table3.md                               ours beside the paper's (ADNI, N = 200)
"""

import copy
import json
import os
import sys
import time

import ml_collections
import numpy as np

from tf_smvae.experiments import common
from tf_smvae.experiments import reports
from tf_smvae.experiments.augmentation import classifier as augment_classifier
from tf_smvae.experiments.augmentation import images as augment_images
from tf_smvae.experiments.augmentation import kid as augment_kid
from tf_smvae.experiments.augmentation import study as augment_study
from tf_smvae.training import train_lib
from tf_smvae.util import images as images_lib
from tf_smvae.util.errors import ConfigError

__all__ = [
    "DEFAULTS",
    "METRICS",
    "NO_AUGMENTATION",
    "PAPER_NUM_SYNTHETIC",
    "PAPER_TABLE3",
    "ROWS",
    "Settings",
    "format_table3",
    "result_key",
    "run",
]

ROWS = ("VAE", "VAE-gradHMC", "VAE-dsHMC")
NO_AUGMENTATION = "No augmentation"
METRICS = ("balanced_accuracy", "tpr", "tnr")
# The paper's ADNI numbers (BAcc, TPR, TNR), reported for N = 200 synthetic images.
PAPER_NUM_SYNTHETIC = 200
PAPER_TABLE3 = {
    "VAE": ("0.968 (0.01)", "0.986 (0.003)", "0.950 (0.002)"),
    "VAE-gradHMC": ("0.971 (0.01)", "0.989 (0.005)", "0.954 (0.002)"),
    "VAE-dsHMC": ("0.964 (0.01)", "0.989 (0.005)", "0.940 (0.001)"),
    NO_AUGMENTATION: ("0.878 (0.02)", "0.824 (0.024)", "0.932 (0.025)"),
}
_GRID_SIZE = 64


def result_key(row, num_synthetic):
    """The results.json key of one (row, N) entry, e.g. "VAE-gradHMC/N=500"."""
    return f"{row}/N={num_synthetic}"


# -- the study ---------------------------------------------------------------------------------


DEFAULTS = ml_collections.ConfigDict(
    dict(
        num_synthetic=(200, 500, 1000, 2000),
        rows=ROWS,
        seeds=(0, 1, 2),
        epochs_scale=1.0,
        validation_fraction=0.2,
        split_seed=0,
        vae_classes="all",
        image_size=None,
        name=None,
        jit_compile=True,
        quick=False,
        classifier=augment_classifier.ClassifierSettings(),
        kid=augment_kid.KIDSettings(),
        verbose=True,
    )
)
"""The defaults of `Settings`, the one place they are written."""


def Settings(**overrides):  # noqa: N802  (called as the frozen dataclass it was)
    """What the study runs. Every field is an override of its default in `DEFAULTS`.

    Args:
      num_synthetic: the N values (synthetic minority images added).
      rows: keys of the row configs to run (may be empty: the baseline only).
      seeds: training seeds (VAEs, sampling and classifiers).
      epochs_scale: multiplies the configs' epochs and ELBO epochs (1.0: the paper's).
      validation_fraction: share of each class's training images held out for early stopping.
      split_seed: seed of that split (the same split for every training seed).
      vae_classes: "all" (one VAE per class, as the paper; the majority's only gives sample
        grids) or "minority" (the only class that is augmented).
      image_size: None, or the size every image is resized to.
      name: the dataset's name in results.json (default: the folder's name).
      jit_compile: XLA for the VAEs' and the classifier's training steps.
      quick: 2 VAE epochs (1 + 1), at most 3 classifier epochs: a smoke run for tests.
      classifier: `ClassifierSettings`.
      kid: `augment_kid.KIDSettings`; with a feature extractor, the per-class KID of every
        class VAE against the class's test images (the KID columns of Table 3).
      verbose: print progress lines to stderr.

    Returns:
      An `ml_collections.FrozenConfigDict`.

    Raises:
      ConfigError: for a field that does not exist.
    """
    return common.make_settings(DEFAULTS, overrides, "augmentation study settings")


_VAE_CLASSES = ("all", "minority")


def _log(settings, message):
    if settings.verbose:
        print(message, file=sys.stderr, flush=True)


def _check_settings(settings, row_configs):
    if settings.rows:  # none: the baseline only
        common.select(settings.rows, list(row_configs), "rows")
    if not settings.seeds:
        raise ConfigError("seeds is empty: give at least one seed.")
    if not settings.num_synthetic or min(settings.num_synthetic) < 1:
        raise ConfigError(f"num_synthetic must be ints >= 1, got {list(settings.num_synthetic)}.")
    if settings.vae_classes not in _VAE_CLASSES:
        raise ConfigError(
            f"vae_classes must be one of {', '.join(_VAE_CLASSES)}, got {settings.vae_classes!r}."
        )
    if not settings.epochs_scale > 0:
        raise ConfigError(f"epochs_scale must be > 0, got {settings.epochs_scale}.")
    augment_kid.check(settings.kid)


def _study_record(settings):
    """The settings finished runs depend on (written to study.json)."""
    return dict(
        quick=settings.quick,
        epochs_scale=settings.epochs_scale,
        vae_classes=settings.vae_classes,
        image_size=settings.image_size,
        classifier={k: v for k, v in settings.classifier.items() if k != "jit_compile"},
    )


def _vae_config(row_config, seed, class_dir, num_train, settings):
    """The per-class VAE config: the row's config on one class's npz data."""
    config = copy.deepcopy(row_config)
    config.seed = seed
    config.dataset.name = "npz"
    config.dataset.data_dir = class_dir
    config.dataset.image_size = None
    if settings.quick:
        common.make_quick(config)
    else:
        common.scale_schedule(config, settings.epochs_scale)
    config.train.batch_size = min(config.train.batch_size, num_train)
    config.train.jit_compile = settings.jit_compile
    return config


def _same_config(config, paths):
    if not (os.path.exists(paths.model) and os.path.exists(paths.config)):
        return False
    stored = common.read_json(paths.config)
    # Fields a newer tf_smvae added to the config do not make a finished VAE stale.
    return not common.changed_training(stored, json.loads(config.to_json_best_effort()), ())


def _vae(study, workdir, row, seed, label, row_configs, reference_config, settings):
    """Trains (or restores a finished) per-class VAE."""
    class_dir, num_train = augment_study.write_class_data(study, workdir, label)
    config = _vae_config(row_configs[row], seed, class_dir, num_train, settings)
    run_dir = os.path.join(workdir, "vaes", row, f"seed{seed}", study.class_names[label])
    paths = train_lib.RunPaths(run_dir)
    if _same_config(config, paths):
        return train_lib.restore_model(run_dir, image_shape=study.train[0].shape[1:])[1]
    _log(settings, f"{row} seed {seed}: training the VAE of class {study.class_names[label]!r}")
    return train_lib.run(config, run_dir, reference_config)


def _grid(workdir, name, images):
    path = os.path.join(workdir, "samples", f"{name}.png")
    images_lib.write_png(path, images_lib.image_grid(images[:_GRID_SIZE] / 255.0))


def _synthetic(study, workdir, row, seed, row_configs, reference_config, settings):
    """The max(N) synthetic minority images of (row, seed): read back, or trained + sampled."""
    count = max(settings.num_synthetic)
    minority = study.class_names[study.positive]
    folder = os.path.join(workdir, "synthetic", row, f"seed{seed}", minority)
    channels = study.train[0].shape[-1]
    if os.path.isdir(folder):
        images = augment_images.read_images(folder, channels)
        if len(images) >= count:
            return images[:count]
    for label in _vae_labels(study, settings):
        if label != study.positive:
            model = _vae(study, workdir, row, seed, label, row_configs, reference_config, settings)
            grid = augment_images.sample_images(model, _GRID_SIZE, seed=seed)
            _grid(workdir, f"{row}_seed{seed}_{study.class_names[label]}", grid)
    model = _vae(study, workdir, row, seed, study.positive, row_configs, reference_config, settings)
    images = augment_images.sample_images(model, count, seed=seed)
    augment_images.write_images(images, folder)
    _grid(workdir, f"{row}_seed{seed}_{minority}", images)
    return images


def _record_path(workdir, row, seed, num_synthetic):
    if row == NO_AUGMENTATION:
        return os.path.join(workdir, "runs", "no_augmentation", f"seed{seed}.json")
    return os.path.join(workdir, "runs", row, f"seed{seed}", f"N={num_synthetic}.json")


def _classify(study, synthetic, seed, settings):
    """One classifier run on real (+ synthetic minority) images; returns its record."""
    start = time.time()
    x_train, y_train = study.train
    labels = study.binary(y_train)
    if len(synthetic):
        x_train = np.concatenate([x_train, synthetic], axis=0)
        labels = np.concatenate([labels, np.ones(len(synthetic), np.int64)])
    model, info = augment_classifier.train_classifier(
        (x_train, labels),
        (study.validation[0], study.binary(study.validation[1])),
        settings.classifier,
        seed,
    )
    record = augment_classifier.scores(model, study.test[0], study.binary(study.test[1]))
    record.update(
        info,
        seed=seed,
        num_synthetic=len(synthetic),
        num_train_real=len(study.train[1]),
        num_validation=len(study.validation[1]),
        num_test=len(study.test[1]),
        positive_class=study.class_names[study.positive],
        seconds=time.time() - start,
    )
    return record


def _finished(path):
    """The stored record of a finished run, or None."""
    return common.read_json(path)


def _summary(label, record):
    return (
        f"{label}: BAcc {record['balanced_accuracy']:.3f} TPR {record['tpr']:.3f} "
        f"TNR {record['tnr']:.3f} ({record['epochs_trained']} epochs, {record['seconds']:.0f}s)"
    )


def _baseline_records(study, workdir, settings):
    records = []
    no_synthetic = np.zeros((0, *study.train[0].shape[1:]), np.uint8)
    for seed in settings.seeds:
        path = _record_path(workdir, NO_AUGMENTATION, seed, 0)
        record = _finished(path)
        if record is None:
            record = _classify(study, no_synthetic, seed, settings)
            reports.write_json(path, record)
            _log(settings, _summary(f"{NO_AUGMENTATION} seed {seed}", record))
        records.append(record)
    return records


def _row_records(study, workdir, row, row_configs, reference_config, settings):
    """{N: [record per seed]} of one row, training only what is missing."""
    records = {n: [] for n in settings.num_synthetic}
    for seed in settings.seeds:
        paths = {n: _record_path(workdir, row, seed, n) for n in settings.num_synthetic}
        done = {n: _finished(path) for n, path in paths.items()}
        if any(record is None for record in done.values()):
            synthetic = _synthetic(
                study, workdir, row, seed, row_configs, reference_config, settings
            )
            for n, record in done.items():
                if record is None:
                    done[n] = dict(_classify(study, synthetic[:n], seed, settings), row=row)
                    reports.write_json(paths[n], done[n])
                    _log(settings, _summary(f"{row} N={n} seed {seed}", done[n]))
        for n in settings.num_synthetic:
            records[n].append(done[n])
    return records


def _vae_labels(study, settings):
    return range(len(study.class_names)) if settings.vae_classes == "all" else [study.positive]


def _kid_entries(study, workdir, row, train_args, extractor):
    """{kid_key(row, class): {"kid": mean_std}} over seeds, computing what is missing.

    `train_args` = (row_configs, reference_config, settings), as `_vae` takes them.
    """
    settings = train_args[-1]
    entries = {}
    for label in _vae_labels(study, settings):
        name = study.class_names[label]
        real = study.test[0][study.test[1] == label]
        values = []
        for seed in settings.seeds:
            path = augment_kid.record_path(workdir, row, seed, name)
            record = _finished(path)
            if record is None:
                model = _vae(study, workdir, row, seed, label, *train_args)
                record = augment_kid.class_kid(model, real, extractor(), settings.kid, seed)
                reports.write_json(path, dict(record, row=row, seed=seed, class_name=name))
                _log(settings, f"{row} seed {seed}: KID on {name!r} {record['kid']:.4g}")
            values.append(record["kid"])
        entries[augment_kid.kid_key(row, name)] = {"kid": reports.mean_std(values)}
    return entries


def _aggregate(records):
    return {metric: reports.mean_std([r[metric] for r in records]) for metric in METRICS}


def _quick(settings):
    classifier = common.replace(
        settings.classifier,
        max_epochs=min(settings.classifier.max_epochs, 3),
        patience=min(settings.classifier.patience, 2),
    )
    return common.replace(settings, classifier=classifier)


def _lazy(make):
    """A function returning `make()`, called once on first use."""
    cache = []

    def get():
        if not cache:
            cache.append(make())
        return cache[0]

    return get


def run(data_dir, workdir, row_configs, settings=None, reference_config=None):
    """Runs every (row, seed, N) and baseline seed not yet done and writes the tables.

    Args:
      data_dir: a two-class `image_folder` dataset (train and test splits).
      workdir: output directory (created; finished runs in it are reused).
      row_configs: {row name: config shaped like configs/base.py} of the per-class VAEs,
        e.g. configs/table3_augmentation.py's variants.
      settings: `Settings` (default: the paper's).
      reference_config: the base config, for the unknown-key check of `train_lib.run`.

    Returns:
      The results dict written to results.json.

    Raises:
      ConfigError: for unknown rows or bad settings, before any work.
      DataError: for a folder without exactly two classes in each split.
    """
    settings = settings or Settings()
    _check_settings(settings, row_configs)
    if settings.quick:
        settings = _quick(settings)
    os.makedirs(workdir, exist_ok=True)
    study = augment_study.load_study(data_dir, workdir, settings)
    augment_study.write_or_check(
        os.path.join(workdir, "study.json"), json.loads(json.dumps(_study_record(settings)))
    )
    for label, name in enumerate(study.class_names):
        _grid(workdir, f"real_{name}", study.train[0][study.train[1] == label])
    entries = {}
    extractor = _lazy(lambda: augment_kid.load_extractor(settings.kid))
    train_args = (row_configs, reference_config, settings)
    for row in settings.rows:
        by_n = _row_records(study, workdir, row, row_configs, reference_config, settings)
        for n, records in by_n.items():
            entries[result_key(row, n)] = _aggregate(records)
        if settings.kid.feature_extractor:
            entries.update(_kid_entries(study, workdir, row, train_args, extractor))
    entries[NO_AUGMENTATION] = _aggregate(_baseline_records(study, workdir, settings))
    results = {study.name: entries}
    reports.write_json(os.path.join(workdir, "results.json"), results)
    positive = study.class_names[study.positive]
    reports.write_text(os.path.join(workdir, "table3.md"), format_table3(results, positive))
    return results


def format_table3(results, positive_class=None):
    """Markdown of results.json beside the paper's ADNI numbers (given for N = 200).

    Args:
      results: {dataset: {"<row>/N=<n>" or "No augmentation": {metric: mean_std entry}}}.
      positive_class: the positive class's name, for the note under the table.

    Returns:
      The markdown text.
    """
    text = []
    for name, entries in results.items():
        kid_classes = sorted({key.split("/KID/")[1] for key in entries if "/KID/" in key})
        header = ["model", "synthetic N", *(f"KID {c}" for c in kid_classes), "BAcc", "TPR"]
        header += ["TNR", "paper BAcc", "paper TPR", "paper TNR"]
        rows = []
        for key, entry in entries.items():
            if "/KID/" in key:
                continue
            row, _, n = key.partition("/N=")
            paper = PAPER_TABLE3.get(row, ("-",) * 3)
            if n and int(n) != PAPER_NUM_SYNTHETIC:
                paper = ("-",) * 3
            kids = [
                reports.cell(entries[augment_kid.kid_key(row, c)]["kid"], digits=4)
                if augment_kid.kid_key(row, c) in entries
                else "-"
                for c in kid_classes
            ]
            cells = [reports.cell(entry[m], digits=3) for m in METRICS]
            rows.append([row, n or "0", *kids, *cells, *paper])
        title = f"Table 3: augmentation on {name} (mean (std) over seeds)"
        text.append(reports.markdown_table(title, header, rows))
    notes = [
        "",
        "Positive class: the minority class"
        + (f" ({positive_class!r})" if positive_class else "")
        + "; BAcc = (TPR + TNR) / 2 on the folder's test split. Early stopping uses a "
        "validation split of the training images, never the test split. The paper's numbers "
        f"are on ADNI with N = {PAPER_NUM_SYNTHETIC} (its best N). KID (when a feature "
        "extractor was given): unbiased MMD^2 of each class VAE's prior samples against the "
        "class's test images, per row (the same for every N); the paper's ADNI KIDs use "
        "another extractor and scale, so only the order of the rows compares.",
    ]
    return "\n".join(text) + "\n".join(notes) + "\n"
