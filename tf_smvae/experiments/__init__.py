"""The paper's studies, built on the library: its tables, the linear-Gaussian study and
the data-augmentation study.

Sub-packages:

- `tables`: Tables 1, 2 and 6 (train every row and seed, score by IS log-likelihood or
  KID, the paper's values beside ours).
- `linear`: Tables 4 and 5 (the linear-Gaussian model, where log p(x) is exact).
- `augmentation`: Table 3 (classifiers trained with VAE samples of a minority class).

`common` holds what every study shares (seeds, epoch scaling, quick mode, the same-config
check); `reports` writes their JSON, markdown and plots. A study takes its configs as
arguments: nothing here imports `configs/` or `bin/`.
"""
