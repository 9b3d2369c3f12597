"""The ground every piece stands on: errors, atomic writes and locks, privacy, the typed spec, the workspace, the whylogs door."""
