"""The numba ``fastmath`` flags of the summary kernels."""

# fastmath without 'nnan'/'ninf': NaN and infinity must propagate so that they can
# be detected after each chunk.
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
