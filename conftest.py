"""Root conftest: keeps the repository importable when the package is not installed."""
