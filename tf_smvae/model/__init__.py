"""tf_smvae.model."""
