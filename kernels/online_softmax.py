"""The online-softmax step every attention kernel here shares (flash attention's recurrence)."""

import triton
import triton.language as tl


@triton.jit
def online_softmax_step(s, v, m_i, l_i, acc):
    """Fold one tile of log2-scaled, already masked scores s [rows, keys] and its values v
    [keys, d] into the running max m_i, sum l_i and unnormalized output acc (all float32).
    Rows with nothing visible yet keep m_i = -inf and contribute nothing."""
    m_new = tl.maximum(m_i, tl.max(s, axis=1))
    m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
    p = tl.exp2(s - m_safe[:, None])
    alpha = tl.exp2(m_i - m_safe)
    l_i = l_i * alpha + tl.sum(p, axis=1)
    acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
    return m_new, l_i, acc


@triton.jit
def online_softmax_step_scaled(qk, scale_log2, v, m_i, l_i, acc):
    """The same step on raw (masked) scores qk and their log2 scale: the scale folds into the exponent's
    subtraction (one fused multiply-add per score instead of a multiply and a subtract)."""
    m_new = tl.maximum(m_i, tl.max(qk, axis=1) * scale_log2)
    m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
    p = tl.exp2(qk * scale_log2 - m_safe[:, None])
    alpha = tl.exp2(m_i - m_safe)
    l_i = l_i * alpha + tl.sum(p, axis=1)
    acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
    return m_new, l_i, acc
