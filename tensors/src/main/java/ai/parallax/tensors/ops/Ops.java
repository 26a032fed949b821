package ai.parallax.tensors.ops;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.Tensor;

/**
 * The backend-neutral operations a forward pass is written in. The CPU backend ({@code kernels-simd}) and the GPU
 * backend ({@code kernels-vulkan}) implement the same contract, so model code never mentions either.
 *
 * <p>Conventions:
 * <ul>
 *   <li>Activations are F32 tensors created by {@link #allocate}; a batch of {@code T} tokens is a matrix
 *       {@code [T, width]}, one row a token.</li>
 *   <li>Weights may be F32, BF16 or F16 (more with later backends); they are converted to float inside the
 *       kernels, never expanded into a copy.</li>
 *   <li>A linear weight is stored as in PyTorch: {@code [outFeatures, inFeatures]}, so {@code out = x · Wᵀ}.</li>
 *   <li>Unless stated, an output may not alias an input.</li>
 * </ul>
 */
public interface Ops extends AutoCloseable {

    /** Short name of the backend, for logs: {@code "cpu-simd"}, {@code "vulkan"}. */
    String name();

    /** Allocates a zeroed activation tensor of the given dtype and shape, owned by this backend. */
    Tensor allocate(String name, DType dtype, long... shape);

    /** Allocates a zeroed F32 activation tensor. */
    default Tensor allocate(String name, long... shape) {
        return allocate(name, DType.F32, shape);
    }

    /**
     * Gives back the memory of a tensor from {@link #allocate}; the tensor must not be used afterwards. A backend
     * that only frees everything at {@link #close()} may ignore it.
     */
    default void free(Tensor tensor) {
    }

    /**
     * Makes a read-only weight ready for the kernels now rather than on its first use: a GPU backend uploads it to
     * device memory, so that loading can report progress and the first step does not wait. Views of the weight (its
     * rows, or a reshape's) then use that copy. The CPU backend reads weights where they are and does nothing.
     */
    default void prepareWeight(Tensor weight) {
    }

    /** Copies floats from the heap into an F32 tensor (at a stage boundary, or to upload tables). */
    void copyFromHost(float[] src, int srcOffset, Tensor dst);

    /** Copies an F32 tensor's elements into a heap array (for sampling, or at a stage boundary). */
    void copyToHost(Tensor src, float[] dst, int dstOffset);

    /** {@code dst = src}, element for element; both F32 and of equal element count. */
    void copy(Tensor src, Tensor dst);

    /**
     * Writes the rows of {@code src} into {@code dst} starting at row {@code dstRow}: how new keys and values enter
     * a KV cache. Backends may override it to avoid making a view.
     */
    default void copyRows(Tensor src, Tensor dst, long dstRow) {
        copy(src, dst.rows(dstRow, src.rowCount()));
    }

    /** {@code out[t, :] = table[ids[t], :]} converted to float, for {@code t < ids.length}. */
    void embedding(Tensor table, int[] ids, Tensor out);

    /**
     * {@code out[t, n] = Σ_k x[t, k] · w[n, k] (+ bias[n])}: x is {@code [T, K]}, w is {@code [N, K]}, out is
     * {@code [T, N]}. {@code bias} may be null. With {@code T == 1} this is a matrix × vector product.
     */
    void matmul(Tensor x, Tensor w, Tensor bias, Tensor out);

    /**
     * {@code out[g] = x[g] · w[g]ᵀ} for every g, each product shaped as {@link #matmul} says (no bias): many small
     * independent products, such as one per attention head with its own matrix, in one call, so a backend can spread
     * them over its threads instead of paying for each call. The arrays have equal lengths; no out[g] may alias any
     * x. The default runs them one by one.
     */
    default void matmuls(Tensor[] x, Tensor[] w, Tensor[] out) {
        if (x.length != w.length || out.length != w.length) {
            throw new IllegalArgumentException("matmuls: " + x.length + " inputs, " + w.length + " weights and "
                    + out.length + " outputs");
        }
        for (int g = 0; g < w.length; g++) {
            matmul(x[g], w[g], null, out[g]);
        }
    }

    /**
     * Root-mean-square norm over each row of length {@code weight.elementCount()}:
     * {@code out = x / sqrt(mean(x²) + eps) · weight}. x and out may be the same tensor. x may hold several
     * normalised rows per token (per-head q/k norm): it is viewed as {@code [x.elementCount() / width, width]}.
     */
    void rmsNorm(Tensor x, Tensor weight, float eps, Tensor out);

    /**
     * Rotary position embedding in place, in the rotate_half layout (first and second halves of the rotary part
     * of each head are paired). x is {@code [T, heads·headDim]}; token t has position {@code positions[t]}.
     * {@code cos} and {@code sin} are {@code [maxPositions, rotaryDim/2]} tables; the first {@code rotaryDim}
     * elements of each head rotate, the rest pass through.
     */
    void rope(Tensor x, int heads, int headDim, int[] positions, Tensor cos, Tensor sin);

    /**
     * Causal attention with grouped-query heads over a KV cache. q is {@code [T, heads·headDim]}; the caches are
     * {@code [capacity, kvHeads·headDim]} and already hold the keys and values of positions
     * {@code [0, startPos + T)}. Query t, at position {@code startPos + t}, attends to positions
     * {@code [0, startPos + t]}. out is {@code [T, heads·headDim]}.
     */
    void attention(Tensor q, Tensor keyCache, Tensor valueCache, int startPos, int heads, int kvHeads, int headDim,
                   float scale, Tensor out);

    /**
     * Causal grouped-query attention for a batch of sequences over a paged KV pool. q is {@code [T, heads·headDim]}
     * with the rows laid out as {@code batch} says; the pools are {@code [blocks·blockSize, kvHeads·headDim]} and
     * already hold, for each sequence, the keys and values of positions {@code [0, startPosition + tokenCount)} at
     * the rows its block table names. A query at position p attends to positions {@code [0, p]} of its own sequence
     * only. out is {@code [T, heads·headDim]}.
     */
    void pagedAttention(Tensor q, Tensor keyPool, Tensor valuePool, BatchLayout batch, int heads, int kvHeads,
                        int headDim, float scale, Tensor out);

    /**
     * {@link #pagedAttention} with the two changes gpt-oss makes (modeling_gpt_oss eager_attention_forward):
     * <ul>
     *   <li>a sliding window: with {@code window > 0}, a query at position p attends only to positions
     *       {@code [p − window + 1, p]}; {@code window == 0} is plain causal attention. Positions older than the
     *       window are never read, so a pool may reuse their rows (a ring buffer is a block table that repeats);</li>
     *   <li>attention sinks: {@code sinks} ({@code [heads]}, F32 or BF16; null for none) holds a learned logit per
     *       head that joins each query's softmax as one more column (unscaled) and is dropped afterwards, so the
     *       weights on the keys sum to less than 1.</li>
     * </ul>
     */
    void pagedAttentionWithSinks(Tensor q, Tensor keyPool, Tensor valuePool, BatchLayout batch, int heads,
                                 int kvHeads, int headDim, float scale, int window, Tensor sinks, Tensor out);

    /**
     * {@code out[t, n] = Σ_k x[t, k] · W[n, k] (+ bias[n])} for an MXFP4 weight W {@code [N, K]} given as its U8
     * {@code blocks} {@code [N, K/2]} and {@code scales} {@code [N, K/32]} ({@link ai.parallax.tensors.Mxfp4}):
     * the codes are decoded inside the dot product. x is {@code [T, K]} F32, out {@code [T, N]}, bias F32/BF16
     * {@code [N]} or null.
     */
    void matmulMxfp4(Tensor x, Tensor blocks, Tensor scales, Tensor bias, Tensor out);

    /**
     * gpt-oss's clamped SwiGLU over interleaved gate/up columns: gateUp is {@code [T, 2I]} with gate at even and
     * up at odd columns; out {@code [T, I]} is {@code (clamp(up, −limit, limit) + 1) · g · sigmoid(alpha · g)} with
     * {@code g = min(gate, limit)}.
     */
    void clampedSwiGlu(Tensor gateUp, float limit, float alpha, Tensor out);

    /**
     * {@code dst[rows[t], :] = src[t, :]} for every row t of src: how a batch's new keys and values enter a paged KV
     * pool. rows has exactly {@code src.rowCount()} entries; widths match.
     */
    void scatterRows(Tensor src, Tensor dst, int[] rows);

    /**
     * {@code dst[i, :] = src[rows[i], :]} for every row i of dst: picks the rows of a batch whose logits are needed.
     * rows has exactly {@code dst.rowCount()} entries; widths match.
     */
    default void gatherRows(Tensor src, int[] rows, Tensor dst) {
        gatherRows(src, rows, 0, rows.length, dst);
    }

    /**
     * {@code dst[i, :] = src[rows[offset + i], :]} for {@code i < count}: gathers the tokens routed to one expert
     * into a dense batch. Both F32 with rows of equal length.
     */
    void gatherRows(Tensor src, int[] rows, int offset, int count, Tensor dst);

    /**
     * {@code dst[rows[offset + i], :] += weights[offset + i] · src[i, :]} for {@code i < count}: adds an expert's
     * weighted outputs back to the tokens they came from. Both F32 with rows of equal length; a row of dst may
     * appear more than once.
     */
    void scatterAddRows(Tensor src, int[] rows, float[] weights, int offset, int count, Tensor dst);

    /** {@code x += y}, element for element. */
    void add(Tensor x, Tensor y);

    /** {@code out = silu(gate) · up}, element for element; out may be gate. */
    void siluMul(Tensor gate, Tensor up, Tensor out);

    /** Softmax over each row of x, in place. */
    void softmax(Tensor x);

    /** Index of the largest element of row {@code row} of x (the first one on ties). */
    int argmax(Tensor x, int row);

    /** Releases the backend's threads and memory. */
    @Override
    void close();
}
