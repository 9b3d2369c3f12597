"""Models: training and evaluation, calibration, tracking in MLflow, model files, the registry and its
promotion gate, estimation."""
