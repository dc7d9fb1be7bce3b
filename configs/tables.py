"""Where each paper table's rows get their training config: `row_config(table)`.

    configs/table1_<dataset>.py:<row>   Table 1 (IS log-likelihood)
    configs/table2_<dataset>.py:<row>   Table 2 (KID)
    configs/table6_hvae.py:<row>        Table 6 (the hierarchical VAE; any dataset)

`bin/reproduce.py` hands `row_config` to `tf_smvae.experiments.tables.runner`, which
does not import configs itself.
"""

import importlib

from tf_smvae.util.errors import ConfigError

CONFIG_MODULES = {
    "table1": "configs.table1_{dataset}",
    "table2": "configs.table2_{dataset}",
    "table6": "configs.table6_hvae",
}


def row_config(table):
    """`(dataset, row) -> ConfigDict`: the experiment config of one row of `table`.

    Raises (when called):
      ConfigError: if there is no experiment config for the dataset.
    """
    if table not in CONFIG_MODULES:
        raise ConfigError(f"Unknown table {table!r}; known: {', '.join(CONFIG_MODULES)}.")

    def get(dataset, row):
        module_name = CONFIG_MODULES[table].format(dataset=dataset)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            raise ConfigError(
                f"No experiment config {module_name!r} for dataset {dataset!r} of {table} "
                f"({error})."
            ) from None
        return module.get_config(row)

    return get
