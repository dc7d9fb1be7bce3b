"""Tables 4 and 5 of the paper (the linear-Gaussian model): `runner` trains each
(configuration, row, seed), `tables` aggregates and formats them."""
