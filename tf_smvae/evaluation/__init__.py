"""tf_smvae.evaluation."""
