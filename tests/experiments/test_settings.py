"""The studies' settings: ml_collections ConfigDicts, defaults written once, frozen."""

import ml_collections
import pytest

from tf_smvae.experiments import common
from tf_smvae.experiments.augmentation import classifier as augment_classifier
from tf_smvae.experiments.augmentation import kid as augment_kid
from tf_smvae.experiments.augmentation import runner as augmentation
from tf_smvae.experiments.linear import runner as linear
from tf_smvae.experiments.tables import runner as tables
from tf_smvae.util.errors import ConfigError

STUDIES = [
    (tables.Settings, tables.DEFAULTS),
    (linear.Settings, linear.DEFAULTS),
    (augmentation.Settings, augmentation.DEFAULTS),
    (augment_classifier.ClassifierSettings, augment_classifier.CLASSIFIER_DEFAULTS),
    (augment_kid.KIDSettings, augment_kid.KID_DEFAULTS),
]


@pytest.mark.parametrize("make,defaults", STUDIES)
def test_settings_are_the_defaults_frozen_and_refuse_unknown_fields(make, defaults):
    assert isinstance(defaults, ml_collections.ConfigDict)
    settings = make()
    assert isinstance(settings, ml_collections.FrozenConfigDict)
    assert settings == ml_collections.FrozenConfigDict(defaults)
    name = sorted(defaults.keys())[0]
    with pytest.raises(AttributeError):
        setattr(settings, name, defaults[name])
    with pytest.raises(ConfigError, match="bogus"):
        make(bogus=1)


def test_overrides_and_replace_change_one_field_and_keep_the_rest():
    settings = tables.Settings(seeds=(4,), tau=2.0)
    assert (settings.seeds, settings.tau, settings.quick) == ((4,), 2.0, False)
    later = common.replace(settings, quick=True)
    assert (later.quick, later.seeds, settings.quick) == (True, (4,), False)
    nested = augmentation.Settings(classifier=augment_classifier.ClassifierSettings(patience=2))
    assert nested.classifier.patience == 2 and nested.classifier.max_epochs == 100
    with pytest.raises(ConfigError, match="Unknown settings field"):
        common.replace(settings, taus=1.0)
