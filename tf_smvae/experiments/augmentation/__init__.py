"""Table 3 of the paper (data augmentation of an imbalanced image folder): `runner` runs
the study, `study` holds its data and splits, `images` makes the synthetic images,
`classifier` trains and scores the classifiers, `kid` scores the synthetic images."""
