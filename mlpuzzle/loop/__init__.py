"""The production loop: pipeline runs, retraining, a workspace's history, its replay under policies, and
their comparison."""
