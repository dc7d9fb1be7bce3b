"""tf_smvae.nn."""
