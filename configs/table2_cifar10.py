"""The old name of `configs/table2.py:cifar10,<row>` (kept for one release)."""

import functools

from configs import table2

get_config = functools.partial(table2.dataset_config, "cifar10")
