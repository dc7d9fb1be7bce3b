"""The old name of `configs/table2.py:fashion_mnist,<row>` (kept for one release)."""

import functools

from configs import table2

get_config = functools.partial(table2.dataset_config, "fashion_mnist")
