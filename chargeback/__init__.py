"""chargeback: cost chargeback and capacity analytics for multi-tenant EKS clusters running EMR on EKS."""

__version__ = "0.1.0"
