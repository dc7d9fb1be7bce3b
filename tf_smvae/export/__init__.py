"""tf_smvae.export."""
