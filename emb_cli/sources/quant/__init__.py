"""Quantized tables: MLX affine and compressed-tensors, dequantized block by block."""
