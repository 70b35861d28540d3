"""Triton kernels for long-context attention: sparse prefill and prefix attention.

Layout everywhere: q is [batch, query_heads, tokens, head_dim]; k and v are
[batch, kv_heads, tokens, head_dim], with query_heads a multiple of kv_heads (grouped-query
attention: query head h reads kv head h // (query_heads // kv_heads), without copying K/V).
Each kernel's float32 PyTorch reference lives in kernels/reference.py.
"""
