"""The old name of `configs/table2.py:svhn,<row>` (kept for one release)."""

import functools

from configs import table2

get_config = functools.partial(table2.dataset_config, "svhn")
