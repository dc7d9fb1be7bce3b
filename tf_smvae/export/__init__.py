"""SavedModel export."""

from tf_smvae.export.saved_model import ENDPOINTS
from tf_smvae.export.saved_model import export_saved_model

__all__ = [
    "ENDPOINTS",
    "export_saved_model",
]
