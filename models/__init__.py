"""ML models: manifests, converters, loaders and training scripts."""
