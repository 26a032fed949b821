package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.VectorLoads.F;
import static ai.parallax.kernels.simd.VectorLoads.FLOAT;
import static ai.parallax.kernels.simd.VectorLoads.L;
import static ai.parallax.kernels.simd.VectorLoads.LE;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.Mxfp4;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.OpArguments;
import ai.parallax.tensors.ops.Ops;

import static ai.parallax.tensors.ops.OpArguments.requireF32;
import static ai.parallax.tensors.ops.OpArguments.requireSameCount;
import static ai.parallax.tensors.ops.OpArguments.shape;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * The CPU backend: {@link Ops} with the Vector API over off-heap memory, on a fixed pool of threads.
 *
 * <p>Weights stay in their stored dtype (F32, BF16, F16, or FP8 with block scales) and are widened to float inside the dot products.
 * Matrix products are split over output rows, attention over (token, head) pairs, norms and softmax over rows.
 * After warm-up no operation allocates on the heap: each parallel operation is a preallocated task object whose
 * fields are set per call, and per-thread scratch grows only when a longer context first needs it.
 *
 * <p>An instance serves one caller at a time (a pipeline stage's forward thread); its operations are
 * {@code synchronized} so that accidental concurrent use is safe, merely serialised.
 */
public final class SimdOps implements Ops {

    /** Below this many multiply-adds (or elements), a fork/join costs more than it saves. */
    private static final long DEFAULT_PARALLEL_THRESHOLD = 1 << 15;

    private final Arena arena = Arena.ofShared();
    private final WorkerPool pool;
    private final MatmulTask matmulTask;
    private final Bf16PairedMatmul bf16Matmul;
    private final TokenVectorMatmul batchMatmul;
    private final Q8Matmul q8Matmul;
    private GroupedMatmulTask groupedMatmulTask;
    /** Created on the first FP8 weight, so that backends serving unquantised models never load its kernels. */
    private Fp8MatmulKernels.Task fp8MatmulTask;
    private final AttentionTask attentionTask;
    private final PagedAttentionTask pagedAttentionTask;
    private final SinkAttentionTask sinkAttentionTask;
    /** Created on the first MXFP4 weight, like the FP8 task. */
    private Mxfp4MatmulKernels.Task mxfp4MatmulTask;
    private final RmsNormTask rmsNormTask = new RmsNormTask();
    private final RopeTask ropeTask = new RopeTask();
    private final SoftmaxTask softmaxTask = new SoftmaxTask();
    private final ElementwiseTask elementwiseTask = new ElementwiseTask();
    /** An F32 copy of a BF16/F16 norm weight, reused across calls (norm weights are a few thousand elements). */
    private MemorySegment normWeightScratch = MemorySegment.NULL;
    private final long parallelThreshold;
    private boolean closed;

    /** A backend with one thread per available processor. */
    public SimdOps() {
        this(Runtime.getRuntime().availableProcessors());
    }

    /** A backend whose operations run on {@code threads} threads, the calling thread included. */
    public SimdOps(int threads) {
        this(threads, DEFAULT_PARALLEL_THRESHOLD);
    }

    /** As {@link #SimdOps(int)}, splitting operations of at least {@code parallelThreshold} steps (tests use 0). */
    SimdOps(int threads, long parallelThreshold) {
        this.parallelThreshold = parallelThreshold;
        pool = new WorkerPool(threads, "parallax-simd");
        matmulTask = new MatmulTask(threads);
        bf16Matmul = new Bf16PairedMatmul(arena, threads);
        batchMatmul = new TokenVectorMatmul(arena, threads);
        q8Matmul = new Q8Matmul(arena, threads);
        attentionTask = new AttentionTask(threads);
        pagedAttentionTask = new PagedAttentionTask(threads);
        sinkAttentionTask = new SinkAttentionTask(threads);
    }

    @Override
    public String name() {
        return "cpu-simd";
    }

    /** Number of threads an operation may use, the caller included. */
    public int threads() {
        return pool.size();
    }

    /** The float vector width the kernels use, in lanes. */
    public static int vectorLanes() {
        return L;
    }

    long[] workerThreadIds() {
        return pool.workerThreadIds();
    }

    @Override
    public synchronized Tensor allocate(String name, DType dtype, long... shape) {
        checkOpen();
        long bytes = Math.multiplyExact(Tensor.elementCount(shape), dtype.byteSize());
        // Arena memory is zeroed; 64-byte alignment keeps every full-width vector load within one cache line.
        return new Tensor(name, dtype, shape, arena.allocate(bytes, 64));
    }

    @Override
    public void copyFromHost(float[] src, int srcOffset, Tensor dst) {
        requireF32(dst, "copyFromHost destination");
        int count = Math.toIntExact(dst.elementCount());
        if (srcOffset < 0 || srcOffset + count > src.length) {
            throw new IndexOutOfBoundsException("copyFromHost: " + count + " floats from offset " + srcOffset
                    + " of an array of " + src.length + " into tensor '" + dst.name() + "'");
        }
        MemorySegment.copy(src, srcOffset, dst.data(), FLOAT, 0, count);
    }

    @Override
    public void copyToHost(Tensor src, float[] dst, int dstOffset) {
        requireF32(src, "copyToHost source");
        int count = Math.toIntExact(src.elementCount());
        if (dstOffset < 0 || dstOffset + count > dst.length) {
            throw new IndexOutOfBoundsException("copyToHost: " + count + " floats of tensor '" + src.name()
                    + "' to offset " + dstOffset + " of an array of " + dst.length);
        }
        MemorySegment.copy(src.data(), FLOAT, 0, dst, dstOffset, count);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        requireF32(src, "copy source");
        requireF32(dst, "copy destination");
        requireSameCount(src, dst, "copy");
        MemorySegment.copy(src.data(), 0, dst.data(), 0, src.byteSize());
    }

    @Override
    public void embedding(Tensor table, int[] ids, Tensor out) {
        requireFloatWeight(table, "embedding table");
        requireF32(out, "embedding output");
        long width = table.rowLength();
        long vocab = table.rowCount();
        if (out.rowLength() != width || out.rowCount() < ids.length) {
            throw new IllegalArgumentException("embedding: output '" + out.name() + "' " + shape(out)
                    + " cannot hold " + ids.length + " rows of width " + width + " from table '" + table.name() + "'");
        }
        for (int t = 0; t < ids.length; t++) {
            int id = ids[t];
            if (id < 0 || id >= vocab) {
                throw new IndexOutOfBoundsException("embedding: token id " + id + " at position " + t
                        + " is outside table '" + table.name() + "' with " + vocab + " rows");
            }
            VectorLoads.widen(table.dtype(), table.data(), id * width, out.data(), t * width, width);
        }
    }

    @Override
    public synchronized void matmul(Tensor x, Tensor w, Tensor bias, Tensor out) {
        checkOpen();
        requireF32(x, "matmul input");
        requireF32(out, "matmul output");
        if (!Fp8MatmulKernels.isFp8(w.dtype()) && !Q8Matmul.accepts(w)) {
            requireFloatWeight(w, "matmul weight");
            if (w.blockScales() != null) {
                throw new IllegalArgumentException("matmul: weight '" + w.name() + "' is " + w.dtype()
                        + " with block scales; the CPU backend applies block scales to FP8 weights only");
            }
        }
        long k = w.rowLength();
        long n = w.rowCount();
        if (x.rowLength() != k) {
            throw new IllegalArgumentException("matmul: input '" + x.name() + "' " + shape(x) + " has rows of "
                    + x.rowLength() + " but weight '" + w.name() + "' " + shape(w) + " expects " + k);
        }
        long tokens = x.rowCount();
        if (out.rowLength() != n || out.rowCount() != tokens) {
            throw new IllegalArgumentException("matmul: output '" + out.name() + "' " + shape(out) + " should be ["
                    + tokens + ", " + n + "] for input " + shape(x) + " and weight " + shape(w));
        }
        if (bias != null) {
            requireFloatWeight(bias, "matmul bias");
            if (bias.elementCount() != n) {
                throw new IllegalArgumentException("matmul: bias '" + bias.name() + "' has " + bias.elementCount()
                        + " elements but weight '" + w.name() + "' has " + n + " rows");
            }
        }
        requireDistinct(x, out, "matmul");
        if (n > Integer.MAX_VALUE || k > Integer.MAX_VALUE || tokens > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("matmul: dimensions of " + shape(x) + " x " + shape(w)
                    + " exceed the int range");
        }
        long blocks = (n + 3) / 4;
        int parts = tokens * n * k < parallelThreshold ? 1 : (int) Math.min(blocks, pool.size());
        if (Fp8MatmulKernels.isFp8(w.dtype())) {
            matmulFp8(x, w, bias, out, parts);
            return;
        }
        if (TokenVectorMatmul.accepts(w.dtype(), tokens)) {
            int batchParts = parts == 1 ? 1 : (int) Math.min(TokenVectorMatmul.rowBlocks(n), pool.size());
            batchMatmul.set(x.data(), w.data(), w.dtype(),
                    w.blockScales() == null ? null : w.blockScales().scales().data(),
                    bias == null ? null : bias.data(), bias == null ? null : bias.dtype(), out.data(), (int) tokens,
                    (int) n, (int) k);
            pool.run(batchMatmul, batchParts);
            batchMatmul.clear();
            return;
        }
        if (Q8Matmul.accepts(w)) {
            q8Matmul.set(x.data(), w, bias == null ? null : bias.data(), bias == null ? null : bias.dtype(),
                    out.data(), (int) tokens);
            pool.run(q8Matmul, parts);
            q8Matmul.clear();
            return;
        }
        if (w.dtype() == DType.BF16 && Bf16PairedMatmul.accepts(k)) {
            bf16Matmul.set(x.data(), w.data(), bias == null ? null : bias.data(), bias == null ? null : bias.dtype(),
                    out.data(), (int) tokens, (int) n, (int) k);
            pool.run(bf16Matmul, parts);
            bf16Matmul.clear();
            return;
        }
        MatmulTask task = matmulTask;
        task.set(x.data(), w.data(), w.dtype(), bias == null ? null : bias.data(),
                bias == null ? null : bias.dtype(), out.data(), (int) tokens, (int) n, (int) k);
        pool.run(task, parts);
        task.clear();
    }

    /** The groups split over the threads, each group a single-threaded product (they are small, and many). */
    @Override
    public synchronized void matmuls(Tensor[] x, Tensor[] w, Tensor[] out) {
        checkOpen();
        if (x.length != w.length || out.length != w.length) {
            throw new IllegalArgumentException("matmuls: " + x.length + " inputs, " + w.length + " weights and "
                    + out.length + " outputs");
        }
        long work = 0;
        for (int g = 0; g < w.length; g++) {
            requireF32(x[g], "matmuls input");
            requireF32(out[g], "matmuls output");
            if (!Fp8MatmulKernels.isFp8(w[g].dtype())) {
                requireFloatWeight(w[g], "matmuls weight");
                if (w[g].blockScales() != null) {
                    throw new IllegalArgumentException("matmuls: weight '" + w[g].name() + "' is " + w[g].dtype()
                            + " with block scales; the CPU backend applies block scales to FP8 weights only");
                }
            }
            if (x[g].rowLength() != w[g].rowLength() || out[g].rowLength() != w[g].rowCount()
                    || out[g].rowCount() != x[g].rowCount()) {
                throw new IllegalArgumentException("matmuls: group " + g + ": input " + shape(x[g]) + ", weight "
                        + shape(w[g]) + " and output " + shape(out[g]) + " do not make out = x · wᵀ");
            }
            requireDistinct(x[g], out[g], "matmuls");
            work += x[g].rowCount() * w[g].rowCount() * w[g].rowLength();
        }
        if (groupedMatmulTask == null) {
            groupedMatmulTask = new GroupedMatmulTask(pool.size());
        }
        int parts = work < parallelThreshold ? 1 : Math.min(w.length, pool.size());
        groupedMatmulTask.set(x, w, out);
        pool.run(groupedMatmulTask, parts);
        groupedMatmulTask.clear();
    }

    private void matmulFp8(Tensor x, Tensor w, Tensor bias, Tensor out, int parts) {
        if (fp8MatmulTask == null) {
            fp8MatmulTask = new Fp8MatmulKernels.Task(pool.size());
        }
        Fp8MatmulKernels.Task task = fp8MatmulTask;
        task.set(x.data(), w.data(), w.dtype(), w.blockScales(), bias == null ? null : bias.data(),
                bias == null ? null : bias.dtype(), out.data(), (int) x.rowCount(), (int) w.rowCount(),
                (int) w.rowLength());
        pool.run(task, parts);
        task.clear();
    }

    @Override
    public synchronized void rmsNorm(Tensor x, Tensor weight, float eps, Tensor out) {
        checkOpen();
        requireF32(x, "rmsNorm input");
        requireF32(out, "rmsNorm output");
        requireFloatWeight(weight, "rmsNorm weight");
        requireSameCount(x, out, "rmsNorm");
        long width = weight.elementCount();
        if (width == 0 || x.elementCount() % width != 0) {
            throw new IllegalArgumentException("rmsNorm: input '" + x.name() + "' " + shape(x) + " is not a whole "
                    + "number of rows of width " + width + " (the length of weight '" + weight.name() + "')");
        }
        MemorySegment w = weight.data();
        if (weight.dtype() != DType.F32) {
            if (normWeightScratch.byteSize() < width * 4) {
                normWeightScratch = arena.allocate(width * 4, 64);
            }
            VectorLoads.widen(weight.dtype(), w, 0, normWeightScratch, 0, width);
            w = normWeightScratch;
        }
        long rows = x.elementCount() / width;
        rmsNormTask.set(x.data(), w, out.data(), (int) width, (int) rows, eps);
        pool.run(rmsNormTask, parts(x.elementCount(), rows));
        rmsNormTask.clear();
    }

    @Override
    public synchronized void rope(Tensor x, int heads, int headDim, int[] positions, Tensor cos, Tensor sin) {
        checkOpen();
        long half = OpArguments.ropeHalfWidth(x, heads, headDim, positions, cos, sin);
        ropeTask.set(x.data(), cos.data(), sin.data(), positions, heads, headDim, (int) half);
        pool.run(ropeTask, parts(x.elementCount(), positions.length));
        ropeTask.clear();
    }

    @Override
    public synchronized void attention(Tensor q, Tensor keyCache, Tensor valueCache, int startPos, int heads,
                                       int kvHeads, int headDim, float scale, Tensor out) {
        checkOpen();
        requireF32(q, "attention query");
        requireF32(keyCache, "attention key cache");
        requireF32(valueCache, "attention value cache");
        requireF32(out, "attention output");
        if (heads <= 0 || kvHeads <= 0 || headDim <= 0 || heads % kvHeads != 0) {
            throw new IllegalArgumentException("attention: " + heads + " query heads cannot be grouped over "
                    + kvHeads + " key/value heads of dimension " + headDim);
        }
        long width = (long) heads * headDim;
        long kvWidth = (long) kvHeads * headDim;
        if (q.elementCount() % width != 0) {
            throw new IllegalArgumentException("attention: query '" + q.name() + "' " + shape(q)
                    + " is not a whole number of rows of " + heads + " heads x " + headDim);
        }
        long tokens = q.elementCount() / width;
        requireSameCount(q, out, "attention");
        requireDistinct(q, out, "attention");
        checkCache(keyCache, kvWidth, startPos, tokens);
        checkCache(valueCache, kvWidth, startPos, tokens);
        if (startPos < 0) {
            throw new IllegalArgumentException("attention: negative start position " + startPos);
        }
        attentionTask.set(q.data(), keyCache.data(), valueCache.data(), out.data(), startPos, (int) tokens, heads,
                kvHeads, headDim, scale);
        long units = tokens * heads;
        long work = units * (startPos + tokens) * headDim;
        pool.run(attentionTask, work < parallelThreshold ? 1 : (int) Math.min(units, pool.size()));
        attentionTask.clear();
    }

    @Override
    public synchronized void pagedAttention(Tensor q, Tensor keyPool, Tensor valuePool, BatchLayout batch, int heads,
                                            int kvHeads, int headDim, float scale, Tensor out) {
        checkOpen();
        requireF32(q, "paged attention query");
        requireF32(keyPool, "paged attention key pool");
        requireF32(valuePool, "paged attention value pool");
        requireF32(out, "paged attention output");
        if (heads <= 0 || kvHeads <= 0 || headDim <= 0 || heads % kvHeads != 0) {
            throw new IllegalArgumentException("paged attention: " + heads + " query heads cannot be grouped over "
                    + kvHeads + " key/value heads of dimension " + headDim);
        }
        long width = (long) heads * headDim;
        long kvWidth = (long) kvHeads * headDim;
        if (q.elementCount() != batch.tokenCount() * width) {
            throw new IllegalArgumentException("paged attention: query '" + q.name() + "' " + shape(q) + " should be ["
                    + batch.tokenCount() + ", " + width + "] for a batch of " + batch.tokenCount() + " tokens");
        }
        requireSameCount(q, out, "paged attention");
        requireDistinct(q, out, "paged attention");
        checkPool(keyPool, kvWidth, batch.blockSize());
        checkPool(valuePool, kvWidth, batch.blockSize());
        long blocks = keyPool.rowCount() / batch.blockSize();
        long work = 0;
        for (int s = 0; s < batch.sequenceCount(); s++) {
            int[] table = batch.blockTable(s);
            int used = (batch.startPosition(s) + batch.tokenCount(s) + batch.blockSize() - 1) / batch.blockSize();
            for (int b = 0; b < used; b++) {
                if (table[b] < 0 || table[b] >= blocks) {
                    throw new IndexOutOfBoundsException("paged attention: sequence " + s + " names block " + table[b]
                            + " of a pool of " + blocks + " blocks");
                }
            }
            work += (long) batch.tokenCount(s) * (batch.startPosition(s) + batch.tokenCount(s));
        }
        pagedAttentionTask.set(q.data(), keyPool.data(), valuePool.data(), out.data(), batch, heads, kvHeads, headDim,
                scale);
        int units = pagedAttentionTask.units(pool.size());
        pool.run(pagedAttentionTask, work * heads * headDim < parallelThreshold ? 1 : Math.min(units, pool.size()));
        pagedAttentionTask.clear();
    }

    @Override
    public synchronized void pagedAttentionWithSinks(Tensor q, Tensor keyPool, Tensor valuePool, BatchLayout batch,
                                                     int heads, int kvHeads, int headDim, float scale, int window,
                                                     Tensor sinks, Tensor out) {
        checkOpen();
        requireF32(q, "sink attention query");
        requireF32(keyPool, "sink attention key pool");
        requireF32(valuePool, "sink attention value pool");
        requireF32(out, "sink attention output");
        if (heads <= 0 || kvHeads <= 0 || headDim <= 0 || heads % kvHeads != 0) {
            throw new IllegalArgumentException("sink attention: " + heads + " query heads cannot be grouped over "
                    + kvHeads + " key/value heads of dimension " + headDim);
        }
        if (window < 0) {
            throw new IllegalArgumentException("sink attention: window " + window + " is negative");
        }
        if (sinks != null) {
            requireFloatWeight(sinks, "attention sinks");
            if (sinks.elementCount() != heads) {
                throw new IllegalArgumentException("sink attention: sinks '" + sinks.name() + "' " + shape(sinks)
                        + " should hold one logit for each of " + heads + " heads");
            }
        }
        long width = (long) heads * headDim;
        long kvWidth = (long) kvHeads * headDim;
        if (q.elementCount() != batch.tokenCount() * width) {
            throw new IllegalArgumentException("sink attention: query '" + q.name() + "' " + shape(q) + " should be ["
                    + batch.tokenCount() + ", " + width + "] for a batch of " + batch.tokenCount() + " tokens");
        }
        requireSameCount(q, out, "sink attention");
        requireDistinct(q, out, "sink attention");
        checkPool(keyPool, kvWidth, batch.blockSize());
        checkPool(valuePool, kvWidth, batch.blockSize());
        long blocks = keyPool.rowCount() / batch.blockSize();
        long work = 0;
        for (int s = 0; s < batch.sequenceCount(); s++) {
            int[] table = batch.blockTable(s);
            int end = batch.startPosition(s) + batch.tokenCount(s);
            int firstRead = window > 0 ? Math.max(0, batch.startPosition(s) - window + 1) : 0;
            for (int b = firstRead / batch.blockSize(); b < (end + batch.blockSize() - 1) / batch.blockSize(); b++) {
                if (table[b] < 0 || table[b] >= blocks) {
                    throw new IndexOutOfBoundsException("sink attention: sequence " + s + " names block " + table[b]
                            + " of a pool of " + blocks + " blocks");
                }
            }
            work += (long) batch.tokenCount(s) * (window > 0 ? Math.min(window, end) : end);
        }
        long units = (long) batch.tokenCount() * heads;
        sinkAttentionTask.set(q.data(), keyPool.data(), valuePool.data(), sinks == null ? null : sinks.data(),
                sinks == null ? null : sinks.dtype(), out.data(), batch, heads, kvHeads, headDim, scale, window);
        pool.run(sinkAttentionTask, work * heads * headDim < parallelThreshold ? 1
                : (int) Math.min(units, pool.size()));
        sinkAttentionTask.clear();
    }

    @Override
    public synchronized void matmulMxfp4(Tensor x, Tensor blocks, Tensor scales, Tensor bias, Tensor out) {
        checkOpen();
        requireF32(x, "MXFP4 matmul input");
        requireF32(out, "MXFP4 matmul output");
        long k = Mxfp4.columns(blocks, scales, "MXFP4 matmul");
        long n = blocks.rowCount();
        if (x.rowLength() != k) {
            throw new IllegalArgumentException("MXFP4 matmul: input '" + x.name() + "' " + shape(x) + " has rows of "
                    + x.rowLength() + " but weight '" + blocks.name() + "' has " + k + " columns");
        }
        long tokens = x.rowCount();
        if (out.rowLength() != n || out.rowCount() != tokens) {
            throw new IllegalArgumentException("MXFP4 matmul: output '" + out.name() + "' " + shape(out)
                    + " should be [" + tokens + ", " + n + "]");
        }
        if (bias != null) {
            requireFloatWeight(bias, "MXFP4 matmul bias");
            if (bias.elementCount() != n) {
                throw new IllegalArgumentException("MXFP4 matmul: bias '" + bias.name() + "' has "
                        + bias.elementCount() + " elements but weight '" + blocks.name() + "' has " + n + " rows");
            }
        }
        requireDistinct(x, out, "MXFP4 matmul");
        if (n > Integer.MAX_VALUE || tokens * k > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("MXFP4 matmul: dimensions of " + shape(x) + " x [" + n + ", " + k
                    + "] exceed the int range");
        }
        if (mxfp4MatmulTask == null) {
            mxfp4MatmulTask = new Mxfp4MatmulKernels.Task(pool.size());
        }
        Mxfp4MatmulKernels.Task task = mxfp4MatmulTask;
        task.set(x.data(), blocks.data(), scales.data(), bias == null ? null : bias.data(),
                bias == null ? null : bias.dtype(), out.data(), (int) tokens, (int) n, (int) k);
        pool.run(task, tokens * n * k < parallelThreshold ? 1 : (int) Math.min(n, pool.size()));
        task.clear();
    }

    @Override
    public synchronized void clampedSwiGlu(Tensor gateUp, float limit, float alpha, Tensor out) {
        checkOpen();
        requireF32(gateUp, "clamped SwiGLU input");
        requireF32(out, "clamped SwiGLU output");
        if (gateUp.rowLength() % 2 != 0 || gateUp.rowLength() != 2 * out.rowLength()
                || gateUp.rowCount() != out.rowCount()) {
            throw new IllegalArgumentException("clamped SwiGLU: input '" + gateUp.name() + "' " + shape(gateUp)
                    + " of interleaved gate/up columns should be twice as wide as output '" + out.name() + "' "
                    + shape(out));
        }
        requireDistinct(gateUp, out, "clamped SwiGLU");
        ClampedSwiGluKernel.apply(gateUp.data(), out.data(), out.rowCount(), out.rowLength(), limit, alpha);
    }

    @Override
    public synchronized void scatterRows(Tensor src, Tensor dst, int[] rows) {
        checkOpen();
        requireF32(src, "scatterRows source");
        requireF32(dst, "scatterRows destination");
        checkRowCopy(src, dst, rows, src.rowCount(), dst.rowCount(), "scatterRows");
        long rowBytes = 4 * src.rowLength();
        for (int t = 0; t < rows.length; t++) {
            MemorySegment.copy(src.data(), t * rowBytes, dst.data(), rows[t] * rowBytes, rowBytes);
        }
    }

    @Override
    public synchronized void gatherRows(Tensor src, int[] rows, Tensor dst) {
        checkOpen();
        requireF32(src, "gatherRows source");
        requireF32(dst, "gatherRows destination");
        checkRowCopy(src, dst, rows, dst.rowCount(), src.rowCount(), "gatherRows");
        long rowBytes = 4 * src.rowLength();
        for (int i = 0; i < rows.length; i++) {
            MemorySegment.copy(src.data(), rows[i] * rowBytes, dst.data(), i * rowBytes, rowBytes);
        }
    }

    private static void checkPool(Tensor pool, long kvWidth, int blockSize) {
        if (pool.rowLength() != kvWidth || pool.rowCount() % blockSize != 0) {
            throw new IllegalArgumentException("paged attention: pool '" + pool.name() + "' " + shape(pool)
                    + " should be [blocks x " + blockSize + ", " + kvWidth + "]");
        }
    }

    private static void checkRowCopy(Tensor src, Tensor dst, int[] rows, long expectedRows, long indexedRows,
                                     String op) {
        if (src.rowLength() != dst.rowLength()) {
            throw new IllegalArgumentException(op + ": rows of '" + src.name() + "' " + shape(src) + " and '"
                    + dst.name() + "' " + shape(dst) + " differ in width");
        }
        if (rows.length != expectedRows) {
            throw new IllegalArgumentException(op + ": " + rows.length + " row indices for " + expectedRows + " rows");
        }
        for (int r : rows) {
            if (r < 0 || r >= indexedRows) {
                throw new IndexOutOfBoundsException(op + ": row " + r + " outside [0, " + indexedRows + ")");
            }
        }
    }

    @Override
    public synchronized void gatherRows(Tensor src, int[] rows, int offset, int count, Tensor dst) {
        checkOpen();
        requireF32(src, "gatherRows source");
        requireF32(dst, "gatherRows destination");
        RowRouting.checkRows("gatherRows", src, rows, offset, count, dst, count, src.rowCount());
        RowRouting.gather(src.data(), src.rowLength(), rows, offset, count, dst.data());
    }

    @Override
    public synchronized void scatterAddRows(Tensor src, int[] rows, float[] weights, int offset, int count,
                                            Tensor dst) {
        checkOpen();
        requireF32(src, "scatterAddRows source");
        requireF32(dst, "scatterAddRows destination");
        RowRouting.checkRows("scatterAddRows", src, rows, offset, count, dst, src.rowCount(), dst.rowCount());
        if (weights.length < offset + count) {
            throw new IndexOutOfBoundsException("scatterAddRows: " + weights.length + " weights for rows ["
                    + offset + ", " + (offset + count) + ")");
        }
        RowRouting.scatterAdd(src.data(), src.rowLength(), rows, weights, offset, count, dst.data());
    }

    @Override
    public synchronized void add(Tensor x, Tensor y) {
        checkOpen();
        requireF32(x, "add destination");
        requireF32(y, "add operand");
        requireSameCount(x, y, "add");
        elementwiseTask.set(ElementwiseTask.ADD, x.data(), y.data(), x.data(), x.elementCount());
        pool.run(elementwiseTask, parts(x.elementCount(), x.elementCount() / L));
        elementwiseTask.clear();
    }

    @Override
    public synchronized void siluMul(Tensor gate, Tensor up, Tensor out) {
        checkOpen();
        requireF32(gate, "siluMul gate");
        requireF32(up, "siluMul up");
        requireF32(out, "siluMul output");
        requireSameCount(gate, up, "siluMul");
        requireSameCount(gate, out, "siluMul");
        elementwiseTask.set(ElementwiseTask.SILU_MUL, gate.data(), up.data(), out.data(), gate.elementCount());
        pool.run(elementwiseTask, parts(gate.elementCount(), gate.elementCount() / L));
        elementwiseTask.clear();
    }

    @Override
    public synchronized void softmax(Tensor x) {
        checkOpen();
        requireF32(x, "softmax input");
        long width = x.rowLength();
        long rows = x.rowCount();
        softmaxTask.set(x.data(), (int) width, (int) rows);
        pool.run(softmaxTask, parts(x.elementCount(), rows));
        softmaxTask.clear();
    }

    @Override
    public int argmax(Tensor x, int row) {
        requireF32(x, "argmax input");
        long width = x.rowLength();
        if (row < 0 || row >= x.rowCount() || width == 0) {
            throw new IndexOutOfBoundsException("argmax: row " + row + " of tensor '" + x.name() + "' "
                    + shape(x));
        }
        MemorySegment m = x.data();
        long base = row * width * 4;
        int n = (int) width;
        int vectorEnd = n - n % L;
        // First pass: the maximum; second pass: its first occurrence, which breaks ties toward the lower index.
        float max = Float.NEGATIVE_INFINITY;
        if (vectorEnd > 0) {
            FloatVector acc = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
            for (int i = 0; i < vectorEnd; i += L) {
                acc = acc.max(FloatVector.fromMemorySegment(F, m, base + 4L * i, LE));
            }
            max = acc.reduceLanes(VectorOperators.MAX);
        }
        for (int i = vectorEnd; i < n; i++) {
            max = Math.max(max, m.get(FLOAT, base + 4L * i));
        }
        for (int i = 0; i < vectorEnd; i += L) {
            VectorMask<Float> hit = FloatVector.fromMemorySegment(F, m, base + 4L * i, LE)
                    .compare(VectorOperators.EQ, max);
            if (hit.anyTrue()) {
                return i + hit.firstTrue();
            }
        }
        for (int i = vectorEnd; i < n; i++) {
            if (m.get(FLOAT, base + 4L * i) == max) {
                return i;
            }
        }
        return 0; // every element is NaN
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        pool.close();
        arena.close();
    }

    private int parts(long elements, long units) {
        if (elements < parallelThreshold) {
            return 1;
        }
        return (int) Math.max(1, Math.min(units, pool.size()));
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("SimdOps is closed");
        }
    }

    private static void checkCache(Tensor cache, long kvWidth, int startPos, long tokens) {
        if (cache.rowLength() != kvWidth) {
            throw new IllegalArgumentException("attention: cache '" + cache.name() + "' " + shape(cache)
                    + " should have rows of " + kvWidth + " (key/value heads x head dimension)");
        }
        if (startPos + tokens > cache.rowCount()) {
            throw new IllegalArgumentException("attention: cache '" + cache.name() + "' holds "
                    + cache.rowCount() + " positions but positions up to " + (startPos + tokens) + " are needed");
        }
    }


    private static void requireFloatWeight(Tensor t, String role) {
        DType d = t.dtype();
        if (d != DType.F32 && d != DType.BF16 && d != DType.F16) {
            throw new IllegalArgumentException(role + " '" + t.name() + "' has dtype " + d
                    + "; the CPU backend reads F32, BF16 and F16");
        }
    }


    private static void requireDistinct(Tensor in, Tensor out, String op) {
        MemorySegment a = in.data();
        MemorySegment b = out.data();
        if (a.isNative() && b.isNative() && a.address() < b.address() + b.byteSize()
                && b.address() < a.address() + a.byteSize()) {
            throw new IllegalArgumentException(op + ": output '" + out.name() + "' overlaps input '" + in.name()
                    + "'");
        }
    }


    /** Start of part {@code part} when {@code total} units are cut into {@code parts} contiguous ranges. */
    static int split(int total, int part, int parts) {
        return (int) ((long) total * part / parts);
    }

    /** {@code out = x · Wᵀ (+ bias)}, split over blocks of four weight rows. */
    static final class MatmulTask implements WorkerPool.ParallelTask {
        private final float[][] sums;
        private MemorySegment x;
        private MemorySegment w;
        private DType wType;
        private MemorySegment bias;
        private DType biasType;
        private MemorySegment out;
        private int tokens;
        private int n;
        private int k;

        MatmulTask(int threads) {
            sums = new float[threads][16];
        }

        void set(MemorySegment x, MemorySegment w, DType wType, MemorySegment bias, DType biasType,
                 MemorySegment out, int tokens, int n, int k) {
            this.x = x;
            this.w = w;
            this.wType = wType;
            this.bias = bias;
            this.biasType = biasType;
            this.out = out;
            this.tokens = tokens;
            this.n = n;
            this.k = k;
        }

        void clear() {
            set(null, null, null, null, null, null, 0, 0, 0);
        }

        @Override
        public void run(int part, int parts) {
            int blocks = (n + 3) / 4;
            int from = split(blocks, part, parts);
            int to = split(blocks, part + 1, parts);
            float[] s = sums[part];
            long rowBytes = (long) k * wType.byteSize();
            long xRowBytes = 4L * k;
            int last = n - 1;
            for (int b = from; b < to; b++) {
                int r = 4 * b;
                if (tokens == 1 && b + 1 < to && r + 8 <= n) {
                    // Decode: eight rows per pass load each x vector once per eight weight vectors, which keeps
                    // the core's loads on the weight stream (measured ~20% faster than four rows from DRAM).
                    rows8(x, 0, rowBytes * r, rowBytes, s);
                    store(s, 0, 0, r, 8);
                    b++;
                    continue;
                }
                int valid = Math.min(4, n - r);
                long w0 = rowBytes * r;
                long w1 = rowBytes * Math.min(r + 1, last);
                long w2 = rowBytes * Math.min(r + 2, last);
                long w3 = rowBytes * Math.min(r + 3, last);
                int t = 0;
                while (t < tokens) {
                    int remaining = tokens - t;
                    if (remaining == 1) {
                        rows4(x, xRowBytes * t, w0, w1, w2, w3, s);
                        store(s, 0, t, r, valid);
                        t += 1;
                    } else {
                        int lastToken = tokens - 1;
                        tile4x4(xRowBytes * t, xRowBytes * Math.min(t + 1, lastToken),
                                xRowBytes * Math.min(t + 2, lastToken), xRowBytes * Math.min(t + 3, lastToken),
                                w0, w1, w2, w3, s);
                        int validTokens = Math.min(4, remaining);
                        for (int i = 0; i < validTokens; i++) {
                            store(s, 4 * i, t + i, r, valid);
                        }
                        t += 4;
                    }
                }
            }
        }

        private void rows8(MemorySegment x, long xr, long w0, long rowBytes, float[] s) {
            switch (wType) {
                case F32 -> MatmulKernels.rows8F32(x, xr, w, w0, rowBytes, k, s);
                case BF16 -> MatmulKernels.rows8Bf16(x, xr, w, w0, rowBytes, k, s);
                case F16 -> MatmulKernels.rows8F16(x, xr, w, w0, rowBytes, k, s);
                default -> throw new IllegalStateException("weight dtype " + wType);
            }
        }

        private void rows4(MemorySegment x, long xr, long w0, long w1, long w2, long w3, float[] s) {
            switch (wType) {
                case F32 -> MatmulKernels.rows4F32(x, xr, w, w0, w1, w2, w3, k, s);
                case BF16 -> MatmulKernels.rows4Bf16(x, xr, w, w0, w1, w2, w3, k, s);
                case F16 -> MatmulKernels.rows4F16(x, xr, w, w0, w1, w2, w3, k, s);
                default -> throw new IllegalStateException("weight dtype " + wType);
            }
        }

        private void tile4x4(long x0, long x1, long x2, long x3, long w0, long w1, long w2, long w3, float[] s) {
            switch (wType) {
                case F32 -> MatmulKernels.tile4x4F32(x, x0, x1, x2, x3, w, w0, w1, w2, w3, k, s);
                case BF16 -> MatmulKernels.tile4x4Bf16(x, x0, x1, x2, x3, w, w0, w1, w2, w3, k, s);
                case F16 -> MatmulKernels.tile4x4F16(x, x0, x1, x2, x3, w, w0, w1, w2, w3, k, s);
                default -> throw new IllegalStateException("weight dtype " + wType);
            }
        }

        private void store(float[] s, int at, int token, int row, int valid) {
            long base = ((long) token * n + row) * 4;
            for (int j = 0; j < valid; j++) {
                float v = s[at + j];
                if (bias != null) {
                    v += VectorLoads.scalar(biasType, bias, row + j);
                }
                out.set(FLOAT, base + 4L * j, v);
            }
        }
    }

    /** Causal grouped-query attention, split over (token, head) pairs. */
    private static final class AttentionTask implements WorkerPool.ParallelTask {
        /** Per-thread attention weights over the context; grown (rarely) when the context outgrows them. */
        private final float[][] weights;
        private MemorySegment q;
        private MemorySegment keys;
        private MemorySegment values;
        private MemorySegment out;
        private int startPos;
        private int tokens;
        private int heads;
        private int kvHeads;
        private int headDim;
        private float scale;

        AttentionTask(int threads) {
            weights = new float[threads][256];
        }

        void set(MemorySegment q, MemorySegment keys, MemorySegment values, MemorySegment out, int startPos,
                 int tokens, int heads, int kvHeads, int headDim, float scale) {
            this.q = q;
            this.keys = keys;
            this.values = values;
            this.out = out;
            this.startPos = startPos;
            this.tokens = tokens;
            this.heads = heads;
            this.kvHeads = kvHeads;
            this.headDim = headDim;
            this.scale = scale;
        }

        void clear() {
            set(null, null, null, null, 0, 0, 0, 0, 0, 0f);
        }

        @Override
        public void run(int part, int parts) {
            int units = tokens * heads;
            int from = split(units, part, parts);
            int to = split(units, part + 1, parts);
            int context = startPos + tokens;
            float[] p = weights[part];
            if (p.length < context) {
                p = new float[Math.max(context, 2 * p.length)];
                weights[part] = p;
            }
            int group = heads / kvHeads;
            long kvRowBytes = 4L * kvHeads * headDim;
            for (int u = from; u < to; u++) {
                int t = u / heads;
                int h = u % heads;
                long headBytes = 4L * (h / group) * headDim;
                long qOffset = 4L * ((long) t * heads + h) * headDim;
                int visible = startPos + t + 1;
                scores(qOffset, headBytes, kvRowBytes, visible, p);
                softmax(p, visible);
                weightedValues(p, visible, headBytes, kvRowBytes, qOffset);
            }
        }

        private void scores(long qOffset, long headBytes, long kvRowBytes, int visible, float[] p) {
            int d = headDim;
            int vectorEnd = d - d % L;
            for (int pos = 0; pos < visible; pos++) {
                long kOffset = pos * kvRowBytes + headBytes;
                FloatVector acc = FloatVector.zero(F);
                for (int i = 0; i < vectorEnd; i += L) {
                    acc = FloatVector.fromMemorySegment(F, q, qOffset + 4L * i, LE)
                            .fma(FloatVector.fromMemorySegment(F, keys, kOffset + 4L * i, LE), acc);
                }
                float s = acc.reduceLanes(VectorOperators.ADD);
                for (int i = vectorEnd; i < d; i++) {
                    s += q.get(FLOAT, qOffset + 4L * i) * keys.get(FLOAT, kOffset + 4L * i);
                }
                p[pos] = s * scale;
            }
        }

        private static void softmax(float[] p, int count) {
            int vectorEnd = count - count % L;
            float max = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < count; i++) {
                max = Math.max(max, p[i]);
            }
            FloatVector sumV = FloatVector.zero(F);
            for (int i = 0; i < vectorEnd; i += L) {
                FloatVector e = FloatVector.fromArray(F, p, i).sub(max).lanewise(VectorOperators.EXP);
                e.intoArray(p, i);
                sumV = sumV.add(e);
            }
            float sum = sumV.reduceLanes(VectorOperators.ADD);
            for (int i = vectorEnd; i < count; i++) {
                float e = (float) Math.exp(p[i] - max);
                p[i] = e;
                sum += e;
            }
            float inv = 1f / sum;
            for (int i = 0; i < count; i++) {
                p[i] *= inv;
            }
        }

        private FloatVector value(long byteOffset) {
            return FloatVector.fromMemorySegment(F, values, byteOffset, LE);
        }

        /** out[d] = Σ_pos p[pos] · v[pos, d], four positions at a time so the FMA chains run side by side. */
        private void weightedValues(float[] p, int visible, long headBytes, long kvRowBytes, long outOffset) {
            int d = headDim;
            int vectorEnd = d - d % L;
            int posEnd = visible - visible % 4;
            for (int i = 0; i < vectorEnd; i += L) {
                long column = headBytes + 4L * i;
                FloatVector a0 = FloatVector.zero(F);
                FloatVector a1 = a0;
                FloatVector a2 = a0;
                FloatVector a3 = a0;
                int pos = 0;
                for (; pos < posEnd; pos += 4) {
                    long at = pos * kvRowBytes + column;
                    a0 = value(at).fma(FloatVector.broadcast(F, p[pos]), a0);
                    a1 = value(at + kvRowBytes).fma(FloatVector.broadcast(F, p[pos + 1]), a1);
                    a2 = value(at + 2 * kvRowBytes).fma(FloatVector.broadcast(F, p[pos + 2]), a2);
                    a3 = value(at + 3 * kvRowBytes).fma(FloatVector.broadcast(F, p[pos + 3]), a3);
                }
                for (; pos < visible; pos++) {
                    a0 = value(pos * kvRowBytes + column).fma(FloatVector.broadcast(F, p[pos]), a0);
                }
                a0.add(a1).add(a2.add(a3)).intoMemorySegment(out, outOffset + 4L * i, LE);
            }
            for (int i = vectorEnd; i < d; i++) {
                long column = headBytes + 4L * i;
                float s = 0f;
                for (int pos = 0; pos < visible; pos++) {
                    s += p[pos] * values.get(FLOAT, pos * kvRowBytes + column);
                }
                out.set(FLOAT, outOffset + 4L * i, s);
            }
        }
    }

    /** out = x / sqrt(mean(x²) + eps) · weight per row; the weight is already F32 here. */
    private static final class RmsNormTask implements WorkerPool.ParallelTask {
        private MemorySegment x;
        private MemorySegment weight;
        private MemorySegment out;
        private int width;
        private int rows;
        private float eps;

        void set(MemorySegment x, MemorySegment weight, MemorySegment out, int width, int rows, float eps) {
            this.x = x;
            this.weight = weight;
            this.out = out;
            this.width = width;
            this.rows = rows;
            this.eps = eps;
        }

        void clear() {
            set(null, null, null, 0, 0, 0f);
        }

        @Override
        public void run(int part, int parts) {
            int from = split(rows, part, parts);
            int to = split(rows, part + 1, parts);
            int vectorEnd = width - width % L;
            for (int r = from; r < to; r++) {
                long base = 4L * r * width;
                FloatVector acc0 = FloatVector.zero(F);
                FloatVector acc1 = acc0;
                int i = 0;
                for (; i + 2 * L <= vectorEnd; i += 2 * L) {
                    FloatVector v0 = FloatVector.fromMemorySegment(F, x, base + 4L * i, LE);
                    FloatVector v1 = FloatVector.fromMemorySegment(F, x, base + 4L * (i + L), LE);
                    acc0 = v0.fma(v0, acc0);
                    acc1 = v1.fma(v1, acc1);
                }
                for (; i < vectorEnd; i += L) {
                    FloatVector v0 = FloatVector.fromMemorySegment(F, x, base + 4L * i, LE);
                    acc0 = v0.fma(v0, acc0);
                }
                float sumSquares = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
                for (; i < width; i++) {
                    float v = x.get(FLOAT, base + 4L * i);
                    sumSquares += v * v;
                }
                float inv = (float) (1.0 / Math.sqrt(sumSquares / width + eps));
                for (i = 0; i < vectorEnd; i += L) {
                    FloatVector.fromMemorySegment(F, x, base + 4L * i, LE).mul(inv)
                            .mul(FloatVector.fromMemorySegment(F, weight, 4L * i, LE))
                            .intoMemorySegment(out, base + 4L * i, LE);
                }
                for (; i < width; i++) {
                    out.set(FLOAT, base + 4L * i, x.get(FLOAT, base + 4L * i) * inv * weight.get(FLOAT, 4L * i));
                }
            }
        }
    }

    /** Rotary embedding in the rotate_half layout, split over tokens. */
    private static final class RopeTask implements WorkerPool.ParallelTask {
        private MemorySegment x;
        private MemorySegment cos;
        private MemorySegment sin;
        private int[] positions;
        private int heads;
        private int headDim;
        private int half;

        void set(MemorySegment x, MemorySegment cos, MemorySegment sin, int[] positions, int heads, int headDim,
                 int half) {
            this.x = x;
            this.cos = cos;
            this.sin = sin;
            this.positions = positions;
            this.heads = heads;
            this.headDim = headDim;
            this.half = half;
        }

        void clear() {
            set(null, null, null, null, 0, 0, 0);
        }

        @Override
        public void run(int part, int parts) {
            int from = split(positions.length, part, parts);
            int to = split(positions.length, part + 1, parts);
            int vectorEnd = half - half % L;
            for (int t = from; t < to; t++) {
                long table = 4L * positions[t] * half;
                for (int h = 0; h < heads; h++) {
                    long first = 4L * ((long) t * heads + h) * headDim;
                    long second = first + 4L * half;
                    int i = 0;
                    for (; i < vectorEnd; i += L) {
                        long o = 4L * i;
                        FloatVector c = FloatVector.fromMemorySegment(F, cos, table + o, LE);
                        FloatVector s = FloatVector.fromMemorySegment(F, sin, table + o, LE);
                        FloatVector a = FloatVector.fromMemorySegment(F, x, first + o, LE);
                        FloatVector b = FloatVector.fromMemorySegment(F, x, second + o, LE);
                        a.mul(c).sub(b.mul(s)).intoMemorySegment(x, first + o, LE);
                        b.mul(c).add(a.mul(s)).intoMemorySegment(x, second + o, LE);
                    }
                    for (; i < half; i++) {
                        long o = 4L * i;
                        float c = cos.get(FLOAT, table + o);
                        float s = sin.get(FLOAT, table + o);
                        float a = x.get(FLOAT, first + o);
                        float b = x.get(FLOAT, second + o);
                        x.set(FLOAT, first + o, a * c - b * s);
                        x.set(FLOAT, second + o, b * c + a * s);
                    }
                }
            }
        }
    }

    /** Numerically stable softmax in place, split over rows. */
    private static final class SoftmaxTask implements WorkerPool.ParallelTask {
        private MemorySegment x;
        private int width;
        private int rows;

        void set(MemorySegment x, int width, int rows) {
            this.x = x;
            this.width = width;
            this.rows = rows;
        }

        void clear() {
            set(null, 0, 0);
        }

        @Override
        public void run(int part, int parts) {
            int from = split(rows, part, parts);
            int to = split(rows, part + 1, parts);
            int vectorEnd = width - width % L;
            for (int r = from; r < to; r++) {
                long base = 4L * r * width;
                float max = Float.NEGATIVE_INFINITY;
                int i = 0;
                if (vectorEnd > 0) {
                    FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
                    for (; i < vectorEnd; i += L) {
                        m = m.max(FloatVector.fromMemorySegment(F, x, base + 4L * i, LE));
                    }
                    max = m.reduceLanes(VectorOperators.MAX);
                }
                for (; i < width; i++) {
                    max = Math.max(max, x.get(FLOAT, base + 4L * i));
                }
                FloatVector sumV = FloatVector.zero(F);
                for (i = 0; i < vectorEnd; i += L) {
                    FloatVector e = FloatVector.fromMemorySegment(F, x, base + 4L * i, LE).sub(max)
                            .lanewise(VectorOperators.EXP);
                    e.intoMemorySegment(x, base + 4L * i, LE);
                    sumV = sumV.add(e);
                }
                float sum = sumV.reduceLanes(VectorOperators.ADD);
                for (; i < width; i++) {
                    float e = (float) Math.exp(x.get(FLOAT, base + 4L * i) - max);
                    x.set(FLOAT, base + 4L * i, e);
                    sum += e;
                }
                float inv = 1f / sum;
                for (i = 0; i < vectorEnd; i += L) {
                    FloatVector.fromMemorySegment(F, x, base + 4L * i, LE).mul(inv)
                            .intoMemorySegment(x, base + 4L * i, LE);
                }
                for (; i < width; i++) {
                    x.set(FLOAT, base + 4L * i, x.get(FLOAT, base + 4L * i) * inv);
                }
            }
        }
    }

    /** x += y, or out = silu(gate) · up, split over contiguous element ranges. */
    private static final class ElementwiseTask implements WorkerPool.ParallelTask {
        static final int ADD = 0;
        static final int SILU_MUL = 1;
        private int op;
        private MemorySegment a;
        private MemorySegment b;
        private MemorySegment out;
        private long count;

        void set(int op, MemorySegment a, MemorySegment b, MemorySegment out, long count) {
            this.op = op;
            this.a = a;
            this.b = b;
            this.out = out;
            this.count = count;
        }

        void clear() {
            set(0, null, null, null, 0);
        }

        @Override
        public void run(int part, int parts) {
            // Split on whole vectors so only the last part has a scalar tail.
            long vectors = count / L;
            long from = vectors * part / parts * L;
            long to = part == parts - 1 ? count : vectors * (part + 1) / parts * L;
            if (op == ADD) {
                add(from, to);
            } else {
                siluMul(from, to);
            }
        }

        private void add(long from, long to) {
            long i = from;
            long vectorEnd = to - (to - from) % L;
            for (; i < vectorEnd; i += L) {
                FloatVector.fromMemorySegment(F, a, 4 * i, LE).add(FloatVector.fromMemorySegment(F, b, 4 * i, LE))
                        .intoMemorySegment(out, 4 * i, LE);
            }
            for (; i < to; i++) {
                out.set(FLOAT, 4 * i, a.get(FLOAT, 4 * i) + b.get(FLOAT, 4 * i));
            }
        }

        private void siluMul(long from, long to) {
            long i = from;
            long vectorEnd = to - (to - from) % L;
            for (; i < vectorEnd; i += L) {
                FloatVector g = FloatVector.fromMemorySegment(F, a, 4 * i, LE);
                FloatVector silu = g.div(g.neg().lanewise(VectorOperators.EXP).add(1f));
                silu.mul(FloatVector.fromMemorySegment(F, b, 4 * i, LE)).intoMemorySegment(out, 4 * i, LE);
            }
            for (; i < to; i++) {
                float g = a.get(FLOAT, 4 * i);
                float silu = g / (1f + (float) Math.exp(-g));
                out.set(FLOAT, 4 * i, silu * b.get(FLOAT, 4 * i));
            }
        }
    }
}
