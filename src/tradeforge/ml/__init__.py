"""Machine learning: features, labels, leakage-free validation, the model zoo, registry and inference API."""
