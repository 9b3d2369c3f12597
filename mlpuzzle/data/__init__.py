"""Data pipelines: drafting a spec from a sample, sources, contract checks with quarantine, versioned
snapshots, labels, engines."""
