"""Triton sparse-prefill and prefix-attention kernels with their PyTorch references: built by the kernels issue."""
