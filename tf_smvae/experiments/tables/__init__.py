"""Tables 1, 2 and 6 of the paper: `runner` trains and scores each (dataset, row, seed),
`evaluators` scores one model (IS log-likelihood or KID), `paper` holds the paper's values
and formats ours beside them."""
