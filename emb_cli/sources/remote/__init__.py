"""Remote checkpoints: URLs and hf:// specs read by ranges, repo ids, the local HF cache."""
