"""Local files: inputs opened safely (regular files, bounded), outputs written atomically."""
