"""tf_smvae.mcmc."""
