"""Monitoring: references, drift, data quality, performance, rules, alerts and incidents, the monitor run."""
