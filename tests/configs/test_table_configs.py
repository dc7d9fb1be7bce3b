"""The table configs: one module per table, `<dataset>,<row>`, and the old per-dataset names."""

import importlib

import pytest

from configs import table1
from configs import table1_rows
from configs import table2
from configs import tables
from tf_smvae.training import validation
from tf_smvae.util.errors import ConfigError

TABLE2_ROWS = ["VAE", "VAE-gradHMC", "VAE-dsHMC", "VAE-MoG", "VAE-VAMP"]


@pytest.mark.parametrize("table", ["table1", "table2"])
def test_every_dataset_and_row_is_a_valid_config_and_the_old_names_agree(table):
    module = importlib.import_module(f"configs.{table}")
    rows = list(table1_rows.ROWS) if table == "table1" else TABLE2_ROWS
    for dataset in module.DATASETS:
        old = importlib.import_module(f"configs.{table}_{dataset}")
        for row in rows:
            config = module.get_config(f"{dataset},{row}")
            validation.validate_config(config)
            assert config.dataset.name == dataset
            assert config.to_json(sort_keys=True) == old.get_config(row).to_json(sort_keys=True)
            assert tables.row_config(table)(dataset, row).to_json() == config.to_json()


def test_the_schedules_are_the_papers():
    fashion = table1.get_config("fashion_mnist,VAE-gradHMC")
    assert (fashion.train.epochs, fashion.kernel.mcmc_start_epoch) == (300, 290)
    assert table1.get_config("mnist").train.epochs == 100
    svhn = table2.get_config("svhn,VAE")
    assert (svhn.model.latent_dim, svhn.model.likelihood) == (64, "discretized_logistic")
    assert table2.get_config("cifar10").model.likelihood_variance == 0.05
    assert svhn.train.learning_rate == table1_rows.PAPER_CODE_LEARNING_RATE == 5e-4


def test_an_unknown_dataset_or_row_is_one_clear_error():
    with pytest.raises(ConfigError, match="'cifar10'.*known: fashion_mnist"):
        table1.get_config("cifar10,VAE")
    with pytest.raises(KeyError, match="VAE-bogus"):
        table2.get_config("svhn,VAE-bogus")
    with pytest.raises(ConfigError, match="Unknown table"):
        tables.row_config("table9")
