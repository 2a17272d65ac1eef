"""Where a table comes from: built from a spec, or read from a checkpoint."""
