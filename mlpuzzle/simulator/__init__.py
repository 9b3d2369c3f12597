"""The demo business, simulated day by day with known changes, and written as production would leave it."""
