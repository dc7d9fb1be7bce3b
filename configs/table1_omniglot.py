"""The old name of `configs/table1.py:omniglot,<row>` (kept for one release)."""

import functools

from configs import table1

get_config = functools.partial(table1.dataset_config, "omniglot")
