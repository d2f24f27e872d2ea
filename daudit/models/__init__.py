"""Models layer: sufficient statistics, the linear family, LightGBM, metrics, importance."""
