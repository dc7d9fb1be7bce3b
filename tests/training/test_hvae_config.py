"""The hierarchical VAE from a config: fields, short flags, validation, builders."""

import pytest
from absl import flags

import tf_smvae
from configs import base
from tf_smvae.training import builders
from tf_smvae.training import flags as short_flags
from tf_smvae.training import validation
from tf_smvae.util.errors import ConfigError


def _hvae_config(**kernel):
    config = base.get_config()
    config.model.name = "hvae"
    config.model.latent_dims = (2, 3)
    config.model.hidden_units = (16,)
    config.model.feature_dim = 8
    config.model.block_units = (8,)
    for name, value in kernel.items():
        config.kernel[name] = value
    return config


def test_short_flags_set_model_and_latent_dims():
    values = flags.FlagValues()
    for name in ("model", "latent_dims"):
        _, definer, help_text = short_flags.SHORT_FLAGS[name]
        definer(name, None, help_text, flag_values=values)
    values(["prog", "--model=hvae", "--latent_dims=5,10"])
    config = short_flags.apply_short_flags(base.get_config(), values)
    assert config.model.name == "hvae" and tuple(config.model.latent_dims) == (5, 10)
    validation.validate_config(config, base.get_config())


@pytest.mark.parametrize(
    "kernel, cls",
    [({}, tf_smvae.HierarchicalVAE), ({"name": "mala"}, tf_smvae.SpeedMeasureHierarchicalVAE)],
)
def test_builder_makes_the_hierarchical_model(kernel, cls):
    config = _hvae_config(**kernel)
    validation.validate_config(config, base.get_config())
    model = builders.build_model(config, (28, 28, 1))
    assert type(model) is cls
    assert model.latent_dims == (2, 3) and model.latent_dim == 5
    assert model.feature_dim == 8 and model.block_units == (8,)


@pytest.mark.parametrize(
    "field, value",
    [("latent_dims", ()), ("latent_dims", (2, 0)), ("block_units", (-1,)), ("prior", "mog")],
)
def test_bad_hierarchical_fields_name_the_field(field, value):
    config = _hvae_config()
    config.model[field] = value
    with pytest.raises(ConfigError, match=f"model.{field}"):
        validation.validate_config(config, base.get_config())


def _parsed(*argv):
    values = flags.FlagValues()
    short_flags.define_short_flags(["num_steps", "num_leapfrog_steps"], flag_values=values)
    values(["prog", *argv])
    return values


def test_k_is_num_steps_and_its_old_flag_name_still_works(capsys):
    config = short_flags.apply_short_flags(base.get_config(), _parsed("--num_steps=7"))
    assert config.kernel.num_steps == 7
    assert capsys.readouterr().err == ""
    config = short_flags.apply_short_flags(base.get_config(), _parsed("--num_mcmc_steps=4"))
    assert config.kernel.num_steps == 4
    assert "warning: --num_mcmc_steps is deprecated; use --num_steps." in capsys.readouterr().err
    with pytest.raises(ConfigError, match="give --num_steps only"):
        short_flags.apply_short_flags(
            base.get_config(), _parsed("--num_mcmc_steps=4", "--num_steps=5")
        )


def test_the_evaluation_flags_are_a_table_of_the_same_mechanism():
    values = flags.FlagValues()
    short_flags.define_short_flags(flag_values=values, table=short_flags.EVAL_FLAGS)
    values(["prog", "--feature_extractor=x.keras", "--seed=3", "--tau=2.0"])
    given = short_flags.given_fields(short_flags.EVAL_FLAGS, "eval", values)
    assert given == {"kid_feature_extractor": "x.keras", "seed": 3, "tau": 2.0}
    # Every flag names a field of config.eval, and its help says which.
    config = base.get_config()
    for name, (field, _, _) in short_flags.EVAL_FLAGS.items():
        section, leaf = field.split(".")
        assert section == "eval" and leaf in config.eval, name
        assert f"config.{field}" in values[name].help
