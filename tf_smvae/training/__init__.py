"""tf_smvae.training."""
