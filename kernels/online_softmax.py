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


@triton.jit
def online_softmax_step_lazy(qk, scale_log2, v, m_i, l_i, acc, threshold):
    """online_softmax_step_scaled, except that the running max, sum and output are rescaled only when some row's
    maximum rose by more than threshold (log2 units; FlashAttention-4's conditional rescale): otherwise the
    tile's exponents are taken against the stale max, which the final division by l_i cancels. Skips the
    output's multiply (one per output element) and the alpha exponent on most tiles of a long row. The
    condition is one reduction over the whole program, so the branch is uniform."""
    m_tile = tl.max(qk, axis=1) * scale_log2
    if tl.max(m_tile - m_i, axis=0) > threshold:
        m_i, l_i, acc = online_softmax_step_scaled(qk, scale_log2, v, m_i, l_i, acc)
    else:
        p = tl.exp2(qk * scale_log2 - m_i[:, None])
        l_i = l_i + tl.sum(p, axis=1)
        acc = tl.dot(p.to(v.dtype), v, acc)
    return m_i, l_i, acc
