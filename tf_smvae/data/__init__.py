"""tf_smvae.data."""
