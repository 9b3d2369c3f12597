"""The ground every piece stands on: errors, atomic writes and locks, privacy, the spec and its schema,
the workspace, the whylogs door."""
