"""Where each paper table's rows get their training config: `row_config(table)`.

    configs/table1.py:<dataset>,<row>   Table 1 (IS log-likelihood)
    configs/table2.py:<dataset>,<row>   Table 2 (KID)
    configs/table6_hvae.py:<row>        Table 6 (the hierarchical VAE; any dataset)

`bin/reproduce.py` hands `row_config` to `tf_smvae.experiments.tables.runner`, which
does not import configs itself.
"""

from configs import table1
from configs import table2
from configs import table6_hvae
from tf_smvae.util.errors import ConfigError

# table -> (dataset, row) -> ConfigDict.
CONFIGS = {
    "table1": table1.dataset_config,
    "table2": table2.dataset_config,
    "table6": lambda dataset, row: table6_hvae.get_config(row),
}


def row_config(table):
    """`(dataset, row) -> ConfigDict`: the experiment config of one row of `table`.

    Raises:
      ConfigError: for an unknown table; (when called) for a dataset the table has no
        config for.
    """
    if table not in CONFIGS:
        raise ConfigError(f"Unknown table {table!r}; known: {', '.join(CONFIGS)}.")
    return CONFIGS[table]
