"""SavedModel export."""

from tf_smvae.export.saved_model import export_saved_model

__all__ = [
    "export_saved_model",
]
