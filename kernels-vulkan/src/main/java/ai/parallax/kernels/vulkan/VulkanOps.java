package ai.parallax.kernels.vulkan;

import ai.parallax.tensors.BlockScales;
import ai.parallax.tensors.DType;
import ai.parallax.tensors.Mxfp4;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.OpArguments;
import ai.parallax.tensors.ops.Ops;

import static ai.parallax.tensors.ops.OpArguments.requireF32;
import static ai.parallax.tensors.ops.OpArguments.requireSameCount;
import static ai.parallax.tensors.ops.OpArguments.shape;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The GPU backend: {@link Ops} as Vulkan compute shaders, through LWJGL. It runs on any Vulkan 1.1 driver with
 * VK_KHR_push_descriptor: NVIDIA, AMD, Intel, Apple GPUs through MoltenVK, and Mesa's lavapipe CPU driver (tests).
 *
 * <p><b>Memory.</b> Every tensor this backend works on is one of two kinds:
 * <ul>
 *   <li><i>Activations</i> ({@link #allocate}): a device-local buffer each. Where device-local memory is also
 *       host-mappable (lavapipe, Apple and other unified-memory GPUs, resizable BAR) the tensor's segment is the
 *       mapping; elsewhere the segment is a range of reserved, inaccessible addresses ({@link AddressReservation}).
 *       Either way the backend finds a tensor's buffer, and the offset of a row view in it, from the segment's
 *       address, so {@link Tensor#rows} views work unchanged.</li>
 *   <li><i>Weights</i>: any other tensor, typically memory-mapped from safetensors. It is read-only by contract,
 *       uploaded once (on first use or by {@link #upload}) to device-local buffers through a staging buffer,
 *       split by rows into several buffers where it exceeds the device's maxStorageBufferRange, and freed when
 *       the memory it came from is unmapped (its segment's scope is no longer alive) or by {@link #releaseWeights}.</li>
 * </ul>
 *
 * <p><b>Execution.</b> Operations are recorded into one command buffer per step, not submitted op by op: the buffer
 * is submitted only when the host needs a result or writes memory that recorded commands may read:
 * {@link #copyToHost}, {@link #argmax}, {@link #copyFromHost}, {@link #free} and {@link #flush}. Host arrays an op
 * needs (token ids, positions, block tables, routing indices and weights) are staged into a host-visible argument
 * ring as the op is recorded, so they never force a submission. Thus a decode step of a dense model, for one
 * sequence or a batch, is one submission: {@link #argmax} of the first sequence's row computes every row's (up to
 * {@value #MAX_ARGMAX_ROWS}) in that submission and the other sequences' calls read them. An MoE step adds one
 * submission per MoE layer, where the host reads the router's logits to pick the experts; the experts' gathers,
 * matmuls and weighted scatter-adds are recorded like any op. Pipeline barriers separate only dependent commands
 * ({@link CommandRecorder}). {@link #submissions()} counts them; the model tests assert one per step.
 *
 * <p><b>Adding an op</b> takes one shader under {@code shaders/} and one method here that checks its arguments,
 * resolves its tensors ({@link #activation}, {@link #weight}) and records a dispatch.
 *
 * <p>Operations are {@code synchronized}: one caller at a time, as with the CPU backend.
 */
public final class VulkanOps implements Ops {
    private static final int DTYPE_F32 = 0;
    private static final int DTYPE_BF16 = 1;
    private static final int DTYPE_F16 = 2;
    private static final int DTYPE_F8_E4M3 = 3;
    private static final int DTYPE_F8_E5M2 = 4;
    /** Not a {@link DType}: the packed codes of an MXFP4 weight, read by the matmul shader only. */
    private static final int DTYPE_MXFP4 = 5;
    private static final int MATMUL_TOKEN_TILE = 4;
    /** The tiled matmul's tile (matmul.comp, TILED): 64 weight rows x 64 tokens, by 256 threads. */
    private static final int TILE = 64;
    private static final int TILED_WORKGROUP = 256;
    /** From this many tokens on, a matmul reads its weight once per 64 tokens (tiled) rather than once per 4. */
    private static final int TILED_MIN_TOKENS = 16;
    private static final int MAX_HEAD_DIM = 512;
    /** Rows whose argmax one call computes together: enough for a batch's sequences. */
    private static final int MAX_ARGMAX_ROWS = 256;

    /**
     * How the backend uses its device.
     *
     * @param device             index in {@link VulkanDevices#list()}, or -1 for the best device
     * @param maxBufferBytes     split weights into buffers of at most this many bytes (0: the device's
     *                           maxStorageBufferRange); tests lower it to exercise splitting
     * @param mapActivations     put activations in host-mappable device memory where the device has it
     * @param stageUploads       upload weights through a staging buffer even where device memory is mappable
     */
    public record Options(int device, long maxBufferBytes, boolean mapActivations, boolean stageUploads) {
        public static Options defaults() {
            return new Options(-1, 0, true, false);
        }

        public Options withDevice(int index) {
            return new Options(index, maxBufferBytes, mapActivations, stageUploads);
        }
    }

    /** Reports weight upload progress, in bytes. */
    @FunctionalInterface
    public interface UploadProgress {
        void update(long doneBytes, long totalBytes);
    }

    /** An activation buffer and the address its tensor's segment starts at. */
    private record Allocation(DeviceBuffer buffer, long address, long bytes, MemorySegment reservation) {
        boolean contains(MemorySegment segment) {
            long at = segment.address();
            return at >= address && at + segment.byteSize() <= address + bytes;
        }
    }

    /**
     * A weight on the device: buffers holding {@code rowsPerChunk} rows each (the last may hold fewer), the first
     * starting at element {@code elementOffset}.
     */
    private record DeviceWeight(DeviceBuffer[] chunks, long rowsPerChunk, long elementOffset, long bytes,
                                MemorySegment.Scope scope, boolean owned, long address, long chunkBytes) {
        long rows(int chunk, long totalRows) {
            return Math.min(rowsPerChunk, totalRows - chunk * rowsPerChunk);
        }
    }

    private final VulkanContext context;
    private final Options options;
    private final CommandRecorder recorder;
    private final int workgroupSize;
    private final long maxBufferBytes;
    private final boolean mapActivations;
    private final TreeMap<Long, Allocation> allocations = new TreeMap<>();
    /** {@link #allocations}' values in address order, for {@link #containing}; null when stale. */
    private Allocation[] allocationIndex;
    /** Host staging of paged attention's arguments, reused across steps. */
    private int[] pagedArguments;
    /** Activations remembered in {@link #weightsByTensor} since it was last cleared of them. */
    private int activationViews;
    /** Host writes into activations (copyFromHost, allocate): with {@link CommandRecorder#recorded()}, the epoch. */
    private long hostWrites;
    // What the argmax results buffer holds: rows [first, first + rows) of the tensor at address, as of an epoch.
    private long argmaxEpoch = -1;
    private long argmaxAddress;
    private long argmaxWidth;
    private long argmaxFirstRow;
    private long argmaxRows;
    private final Map<Tensor, DeviceWeight> weightsByTensor = new IdentityHashMap<>();
    private final Map<Long, DeviceWeight> weightsByAddress = new HashMap<>();
    /** Every weight this backend uploaded and owns (two may start at one address: a tensor and its first rows). */
    private final List<DeviceWeight> uploadedWeights = new ArrayList<>();
    private final Map<String, ComputeKernel> kernels = new HashMap<>();
    private final ComputeKernel[] matmulKernels = new ComputeKernel[6];
    private final ComputeKernel[] tiledMatmulKernels = new ComputeKernel[6];
    private final ComputeKernel[] embeddingKernels = new ComputeKernel[3];
    private final ComputeKernel[] rmsNormKernels = new ComputeKernel[3];
    private final DeviceBuffer results;
    private DeviceBuffer staging;
    private DeviceBuffer scores;
    private long weightBytes;
    private boolean closed;

    private VulkanOps(VulkanContext context, Options options) {
        this.context = context;
        this.options = options;
        VulkanDeviceInfo info = context.info;
        this.workgroupSize = Integer.highestOneBit(Math.min(256, info.maxWorkgroupInvocations()));
        long limit = info.maxStorageBufferRange();
        this.maxBufferBytes = (options.maxBufferBytes() > 0 ? Math.min(options.maxBufferBytes(), limit) : limit) & ~15L;
        this.mapActivations = options.mapActivations() && context.hasMappableDeviceMemory();
        this.recorder = new CommandRecorder(context);
        this.results = context.createBuffer(4L * MAX_ARGMAX_ROWS, VulkanContext.HOST_COHERENT, "argmax results");
    }

    /** Opens the best Vulkan device (see {@link VulkanDevices#best}). */
    public static VulkanOps open() {
        return open(Options.defaults());
    }

    /** Opens device {@code index} of {@link VulkanDevices#list()}. */
    public static VulkanOps open(int index) {
        return open(Options.defaults().withDevice(index));
    }

    /**
     * Opens a device as {@code options} say.
     *
     * @throws VulkanException naming what is missing when there is no Vulkan loader, driver or usable device
     */
    public static VulkanOps open(Options options) {
        VulkanContext context = VulkanContext.open(options.device());
        try {
            return new VulkanOps(context, options);
        } catch (RuntimeException e) {
            context.close();
            throw e;
        }
    }

    @Override
    public String name() {
        return "vulkan";
    }

    /** The device this backend runs on. */
    public VulkanDeviceInfo device() {
        return context.info;
    }

    /** Whether activation tensors are host-mapped device memory (else they are device-only). */
    public boolean activationsMapped() {
        return mapActivations;
    }

    /** Bytes of weights currently on the device. */
    public synchronized long weightBytesOnDevice() {
        return weightBytes;
    }

    /** Command-buffer submissions so far (one per decode step when the caller reads only the logits). */
    public synchronized long submissions() {
        return recorder.submits();
    }

    /** Compute dispatches recorded so far. */
    public synchronized long dispatches() {
        return recorder.dispatches();
    }

    /** Submits the recorded operations and waits for them. */
    public synchronized void flush() {
        checkOpen();
        recorder.submit();
    }

    // ---------------------------------------------------------------------------------------------------------
    // Memory

    @Override
    public synchronized Tensor allocate(String name, DType dtype, long... shape) {
        checkOpen();
        long bytes = Math.multiplyExact(Tensor.elementCount(shape), dtype.byteSize());
        if (bytes > context.info.maxStorageBufferRange()) {
            throw new VulkanException("tensor '" + name + "' " + Arrays.toString(shape) + " " + dtype + " needs "
                    + bytes + " bytes, more than the " + context.info.maxStorageBufferRange()
                    + " one buffer may hold on " + context.info.name());
        }
        DeviceBuffer buffer = null;
        if (mapActivations) {
            try {
                buffer = context.createBuffer(bytes, VulkanContext.DEVICE_LOCAL | VulkanContext.HOST_COHERENT,
                        "tensor '" + name + "'");
            } catch (VulkanException e) {
                // The mappable heap is small on discrete GPUs without resizable BAR; fall back to unmapped memory.
                buffer = null;
            }
        }
        MemorySegment segment;
        MemorySegment reservation = null;
        if (buffer != null) {
            segment = buffer.mapped().asSlice(0, bytes);
            segment.fill((byte) 0);
        } else {
            buffer = context.createBuffer(bytes, VulkanContext.DEVICE_LOCAL, "tensor '" + name + "'");
            reservation = AddressReservation.reserve(bytes);
            segment = reservation;
            recorder.zero(buffer);
        }
        allocations.put(segment.address(), new Allocation(buffer, segment.address(), bytes, reservation));
        allocationIndex = null;
        hostWrites++;
        return new Tensor(name, dtype, shape, segment);
    }

    @Override
    public synchronized void free(Tensor tensor) {
        checkOpen();
        Allocation a = allocations.get(tensor.data().address());
        if (a == null || a.bytes != tensor.byteSize()) {
            throw new IllegalArgumentException("free: tensor '" + tensor.name() + "' was not allocated by this "
                    + "backend (or is a view of an allocation)");
        }
        recorder.submit();
        allocations.remove(a.address);
        allocationIndex = null;
        weightsByTensor.values().removeIf(w -> !w.owned && w.chunks[0] == a.buffer);
        context.destroy(a.buffer);
        if (a.reservation != null) {
            AddressReservation.release(a.reservation);
        }
    }

    @Override
    public synchronized void copyFromHost(float[] src, int srcOffset, Tensor dst) {
        checkOpen();
        requireF32(dst, "copyFromHost destination");
        int count = Math.toIntExact(dst.elementCount());
        if (srcOffset < 0 || srcOffset + count > src.length) {
            throw new IndexOutOfBoundsException("copyFromHost: " + count + " floats from offset " + srcOffset
                    + " of an array of " + src.length + " into tensor '" + dst.name() + "'");
        }
        Allocation a = activation(dst, "copyFromHost destination");
        // Commands recorded earlier may still read the old contents.
        recorder.submit();
        hostWrites++;
        if (a.reservation == null) {
            MemorySegment.copy(src, srcOffset, dst.data(), ValueLayout.JAVA_FLOAT, 0, count);
            return;
        }
        long done = 0;
        long bytes = 4L * count;
        while (done < bytes) {
            DeviceBuffer stage = staging(bytes - done);
            long piece = Math.min(stage.size(), bytes - done);
            MemorySegment.copy(src, srcOffset + (int) (done / 4), stage.mapped(), ValueLayout.JAVA_FLOAT, 0,
                    (int) (piece / 4));
            recorder.copy(stage, 0, a.buffer, dst.data().address() - a.address + done, piece);
            recorder.submit();
            done += piece;
        }
    }

    @Override
    public synchronized void copyToHost(Tensor src, float[] dst, int dstOffset) {
        checkOpen();
        requireF32(src, "copyToHost source");
        int count = Math.toIntExact(src.elementCount());
        if (dstOffset < 0 || dstOffset + count > dst.length) {
            throw new IndexOutOfBoundsException("copyToHost: " + count + " floats of tensor '" + src.name()
                    + "' to offset " + dstOffset + " of an array of " + dst.length);
        }
        Allocation a = activation(src, "copyToHost source");
        recorder.submit();
        if (a.reservation == null) {
            MemorySegment.copy(src.data(), ValueLayout.JAVA_FLOAT, 0, dst, dstOffset, count);
            return;
        }
        long done = 0;
        long bytes = 4L * count;
        while (done < bytes) {
            DeviceBuffer stage = staging(bytes - done);
            long piece = Math.min(stage.size(), bytes - done);
            recorder.copy(a.buffer, src.data().address() - a.address + done, stage, 0, piece);
            recorder.submit();
            MemorySegment.copy(stage.mapped(), ValueLayout.JAVA_FLOAT, 0, dst, dstOffset + (int) (done / 4),
                    (int) (piece / 4));
            done += piece;
        }
    }

    @Override
    public synchronized void copy(Tensor src, Tensor dst) {
        checkOpen();
        requireF32(src, "copy source");
        requireF32(dst, "copy destination");
        requireSameCount(src, dst, "copy");
        Allocation from = activation(src, "copy source");
        Allocation to = activation(dst, "copy destination");
        recorder.copy(from.buffer, src.data().address() - from.address, to.buffer, dst.data().address() - to.address,
                src.byteSize());
    }

    /**
     * Uploads weights to the device now rather than on first use, reporting progress in bytes: a model's first
     * token then does not wait for the upload, and a progress bar can show it.
     */
    public synchronized void upload(Collection<Tensor> weights, UploadProgress progress) {
        checkOpen();
        long total = 0;
        for (Tensor t : weights) {
            total += t.byteSize();
        }
        long done = 0;
        progress.update(0, total);
        for (Tensor t : weights) {
            weight(t, "upload");
            done += t.byteSize();
            progress.update(done, total);
        }
    }

    /** Frees every uploaded weight; they are uploaded again on their next use. */
    public synchronized void releaseWeights() {
        checkOpen();
        recorder.submit();
        for (DeviceWeight w : uploadedWeights) {
            destroy(w);
        }
        uploadedWeights.clear();
        weightsByAddress.clear();
        weightsByTensor.clear();
    }

    /** Measured speed of the device on the decode step's dominant operation. */
    public record Throughput(double gflops, double gbPerSecond) {
    }

    /**
     * Measures BF16 matrix × vector products of a 2048 × 4096 weight (16 MiB, beyond most caches), recorded
     * sixteen to a submission as in a decode step, for about {@code millis} milliseconds: what a cluster's scheduler
     * compares nodes by. The weight is freed afterwards.
     */
    public synchronized Throughput measureMatvec(long millis) {
        checkOpen();
        int rows = 2048;
        int cols = 4096;
        Tensor x = allocate("probe.x", 1, cols);
        Tensor y = allocate("probe.y", 1, rows);
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment bits = arena.allocate(2L * rows * cols, 64);
            for (long i = 0; i < (long) rows * cols; i++) {
                // Small BF16 values of both signs: 0x3C00 | low bits is about 0.0078 .. 0.0156.
                bits.set(ValueLayout.JAVA_SHORT, 2 * i, (short) (0x3C00 | (i * 2654435761L >>> 25 & 0x7F)
                        | (i % 3 == 0 ? 0x8000 : 0)));
            }
            Tensor w = new Tensor("probe.w", DType.BF16, new long[] {rows, cols}, bits);
            matmul(x, w, null, y);
            recorder.submit();
            long products = 0;
            long start = System.nanoTime();
            long end = start + Math.max(1, millis) * 1_000_000L;
            do {
                for (int i = 0; i < 16; i++) {
                    matmul(x, w, null, y);
                }
                recorder.submit();
                products += 16;
            } while (System.nanoTime() < end);
            double seconds = (System.nanoTime() - start) / 1e9;
            DeviceWeight uploaded = weightsByTensor.remove(w);
            weightsByAddress.values().removeIf(v -> v == uploaded);
            uploadedWeights.remove(uploaded);
            destroy(uploaded);
            double flopsPerProduct = 2.0 * rows * cols;
            double bytesPerProduct = w.byteSize();
            return new Throughput(products * flopsPerProduct / seconds / 1e9,
                    products * bytesPerProduct / seconds / 1e9);
        } finally {
            free(x);
            free(y);
        }
    }

    /**
     * The device memory's bandwidth as buffer-to-buffer copies see it, in bytes per second: the median of
     * {@code repeats} submissions of eight copies of {@code bytes} between two device-local buffers, each copy
     * counting its read and its write. It is what a bandwidth-bound decode step can hope for; the vendor's figure
     * is higher by the copy engine's overheads.
     */
    public synchronized double measureCopyBandwidth(long bytes, int repeats) {
        checkOpen();
        if (bytes <= 0 || repeats <= 0) {
            throw new IllegalArgumentException("copy bandwidth probe needs positive bytes and repeats, got " + bytes
                    + " and " + repeats);
        }
        recorder.submit();
        DeviceBuffer from = context.createBuffer(bytes, VulkanContext.DEVICE_LOCAL, "bandwidth probe source");
        DeviceBuffer to = null;
        try {
            to = context.createBuffer(bytes, VulkanContext.DEVICE_LOCAL, "bandwidth probe destination");
            recorder.zero(from);
            recorder.copy(from, 0, to, 0, bytes);
            recorder.submit();
            double[] rates = new double[repeats];
            for (int r = 0; r < repeats; r++) {
                long start = System.nanoTime();
                for (int i = 0; i < 8; i++) {
                    // Alternate directions: each copy depends on the one before, as layers do.
                    recorder.copy(i % 2 == 0 ? to : from, 0, i % 2 == 0 ? from : to, 0, bytes);
                }
                recorder.submit();
                rates[r] = 8 * 2.0 * bytes / ((System.nanoTime() - start) / 1e9);
            }
            Arrays.sort(rates);
            return rates[repeats / 2];
        } finally {
            context.destroy(from);
            if (to != null) {
                context.destroy(to);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Operations

    @Override
    public synchronized void embedding(Tensor table, int[] ids, Tensor out) {
        checkOpen();
        requireFloatWeight(table, "embedding table");
        requireF32(out, "embedding output");
        long width = table.rowLength();
        long vocab = table.rowCount();
        if (out.rowLength() != width || out.rowCount() < ids.length) {
            throw new IllegalArgumentException("embedding: output '" + out.name() + "' " + shape(out)
                    + " cannot hold " + ids.length + " rows of width " + width + " from table '" + table.name() + "'");
        }
        for (int t = 0; t < ids.length; t++) {
            if (ids[t] < 0 || ids[t] >= vocab) {
                throw new IndexOutOfBoundsException("embedding: token id " + ids[t] + " at position " + t
                        + " is outside table '" + table.name() + "' with " + vocab + " rows");
            }
        }
        if (ids.length == 0) {
            return;
        }
        DeviceWeight w = weight(table, "embedding table");
        Allocation o = activation(out, "embedding output");
        int idsOffset = recorder.stage(ids, ids.length);
        ComputeKernel kernel = kernel(embeddingKernels, "embedding", table.dtype());
        for (int c = 0; c < w.chunks.length; c++) {
            recorder.begin(kernel);
            recorder.bind(w.chunks[c], false);
            recorder.bind(recorder.arguments(), false);
            recorder.bind(o.buffer, true);
            recorder.push((long) ids.length);
            recorder.push(width);
            recorder.push(c == 0 ? w.elementOffset : 0);
            recorder.push(c * w.rowsPerChunk);
            recorder.push(w.rows(c, vocab));
            recorder.push((long) idsOffset);
            recorder.push(elementOffset(out, o));
            recorder.dispatch(ceilDiv(ids.length * width, workgroupSize), 1);
        }
    }

    @Override
    public synchronized void matmul(Tensor x, Tensor w, Tensor bias, Tensor out) {
        checkOpen();
        requireF32(x, "matmul input");
        requireF32(out, "matmul output");
        if (dtypeCode(w.dtype()) < 0) {
            throw new IllegalArgumentException("matmul weight '" + w.name() + "' has dtype " + w.dtype()
                    + "; the Vulkan matmul reads F32, BF16, F16, F8_E4M3 and F8_E5M2 (MXFP4 through matmulMxfp4)");
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
        if (x.data().address() == out.data().address()) {
            throw new IllegalArgumentException("matmul: output '" + out.name() + "' may not alias input '"
                    + x.name() + "'");
        }
        BlockScales blockScales = w.blockScales();
        if (blockScales != null && !isFp8(w.dtype())) {
            throw new IllegalArgumentException("matmul: weight '" + w.name() + "' is " + w.dtype() + " with block "
                    + "scales; the Vulkan kernels read block scales with F8_E4M3 and F8_E5M2 weights");
        }
        DeviceWeight dw = weight(w, "matmul weight");
        DeviceWeight ds = blockScales == null ? null : wholeWeight(blockScales.scales(), "matmul block scales");
        DeviceWeight db = bias == null ? null : wholeWeight(bias, "matmul bias");
        recordMatmul(x, dw, dtypeCode(w.dtype()), k, n, k, db, bias == null ? 0 : dtypeCode(bias.dtype()), ds,
                blockScales == null ? 0 : dtypeCode(blockScales.scales().dtype()),
                blockScales == null ? 0 : blockScales.scales().rowLength(),
                blockScales == null ? 1 : blockScales.blockRows(), blockScales == null ? 0 : blockScales.blockCols(),
                out);
    }

    /**
     * Records {@code out = x · Wᵀ (+ bias)} over every buffer of a device weight, one dispatch each.
     *
     * @param code        how the shader reads a weight element ({@code DTYPE_*})
     * @param wRowStride  elements (bytes for FP8 and MXFP4) from one weight row to the next
     * @param scales      block scales (FP8) or E8M0 scale bytes (MXFP4) in one buffer, indexed by global row; or null
     * @param blockCols   columns per scale; 0 when the weight has no scales
     */
    private void recordMatmul(Tensor x, DeviceWeight dw, int code, long k, long n, long wRowStride, DeviceWeight db,
                              int biasCode, DeviceWeight scales, int scaleCode, long scaleStride, long blockRows,
                              long blockCols, Tensor out) {
        Allocation xa = activation(x, "matmul input");
        Allocation oa = activation(out, "matmul output");
        long tokens = x.rowCount();
        boolean tiled = tokens >= TILED_MIN_TOKENS && workgroupSize == TILED_WORKGROUP;
        ComputeKernel kernel = tiled ? kernel(tiledMatmulKernels, "matmul", code, Map.of("TILED", "1"))
                : kernel(matmulKernels, "matmul", code);
        // 16-bit weights with rows of whole 16-byte vectors are read eight at a time (see matmul.comp); the rest one
        // by one.
        long xOffset = elementOffset(x, xa);
        boolean vectorized = (code == DTYPE_BF16 || code == DTYPE_F16) && k % 8 == 0 && dw.elementOffset % 8 == 0
                && xOffset % 4 == 0;
        // About eight multiply-adds per thread before the reduction (eight loads of eight weights when vectorised):
        // short rows share a workgroup.
        int rowThreads = vectorized
                ? (int) Math.min(workgroupSize, Long.highestOneBit(Math.max(1, k / 64)))
                : (int) Math.min(workgroupSize, Long.highestOneBit(Math.max(1, (k + 7) / 8) * 2 - 1));
        int rowsPerGroup = workgroupSize / rowThreads;
        for (int c = 0; c < dw.chunks.length; c++) {
            long rows = dw.rows(c, n);
            recorder.begin(kernel);
            recorder.bind(xa.buffer, false);
            recorder.bind(dw.chunks[c], false);
            recorder.bind(db == null ? dw.chunks[c] : db.chunks[0], false);
            recorder.bind(oa.buffer, true);
            recorder.bind(scales == null ? dw.chunks[c] : scales.chunks[0], false);
            recorder.push(tokens);
            recorder.push(rows);
            recorder.push(k);
            recorder.push(xOffset);
            recorder.push(c == 0 ? dw.elementOffset : 0);
            recorder.push(elementOffset(out, oa));
            recorder.push(n);
            recorder.push(c * dw.rowsPerChunk);
            recorder.push(db == null ? 0 : 1);
            recorder.push(biasCode);
            recorder.push(db == null ? 0 : db.elementOffset + c * dw.rowsPerChunk);
            recorder.push((long) rowThreads);
            recorder.push(wRowStride);
            recorder.push(scales == null ? 0 : scales.elementOffset);
            recorder.push(scaleStride);
            recorder.push(blockRows);
            recorder.push(blockCols);
            recorder.push(scaleCode);
            recorder.push(vectorized ? 1 : 0);
            if (tiled) {
                recorder.dispatch(ceilDiv(rows, TILE), (int) ceilDiv(tokens, TILE));
            } else {
                recorder.dispatch(ceilDiv(rows, rowsPerGroup), (int) ceilDiv(tokens, MATMUL_TOKEN_TILE));
            }
        }
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
        DeviceWeight w = weight(weight, "rmsNorm weight");
        Allocation xa = activation(x, "rmsNorm input");
        Allocation oa = activation(out, "rmsNorm output");
        long rows = x.elementCount() / width;
        recorder.begin(kernel(rmsNormKernels, "rms_norm", weight.dtype()));
        recorder.bind(xa.buffer, false);
        recorder.bind(w.chunks[0], false);
        recorder.bind(oa.buffer, true);
        recorder.push(rows);
        recorder.push(width);
        recorder.push(elementOffset(x, xa));
        recorder.push(w.elementOffset);
        recorder.push(elementOffset(out, oa));
        recorder.push(eps);
        recorder.dispatch(rows, 1);
    }

    @Override
    public synchronized void rope(Tensor x, int heads, int headDim, int[] positions, Tensor cos, Tensor sin) {
        checkOpen();
        long half = OpArguments.ropeHalfWidth(x, heads, headDim, positions, cos, sin);
        if (positions.length == 0 || half == 0) {
            return;
        }
        Allocation xa = activation(x, "rope input");
        DeviceWeight c = weight(cos, "rope cos table");
        DeviceWeight s = weight(sin, "rope sin table");
        int positionsOffset = recorder.stage(positions, positions.length);
        recorder.begin(kernel("rope"));
        recorder.bind(xa.buffer, true);
        recorder.bind(c.chunks[0], false);
        recorder.bind(s.chunks[0], false);
        recorder.bind(recorder.arguments(), false);
        recorder.push((long) positions.length);
        recorder.push((long) heads);
        recorder.push((long) headDim);
        recorder.push(half);
        recorder.push(elementOffset(x, xa));
        recorder.push(c.elementOffset);
        recorder.push(s.elementOffset);
        recorder.push((long) positionsOffset);
        recorder.dispatch(ceilDiv(positions.length * heads * half, workgroupSize), 1);
    }

    @Override
    public synchronized void scatterRows(Tensor src, Tensor dst, int[] rows) {
        checkOpen();
        requireF32(src, "scatterRows source");
        requireF32(dst, "scatterRows destination");
        if (rows.length != src.rowCount() || src.rowLength() != dst.rowLength()) {
            throw new IllegalArgumentException("scatterRows: " + rows.length + " row indices for '" + src.name() + "' "
                    + shape(src) + " into '" + dst.name() + "' " + shape(dst));
        }
        requireRows(rows, 0, rows.length, dst, "scatterRows");
        recordCopyRows(src, dst, rows, 0, rows.length, true);
    }

    @Override
    public synchronized void gatherRows(Tensor src, int[] rows, Tensor dst) {
        checkOpen();
        if (rows.length != dst.rowCount() || src.rowLength() != dst.rowLength()) {
            throw new IllegalArgumentException("gatherRows: " + rows.length + " row indices from '" + src.name() + "' "
                    + shape(src) + " into '" + dst.name() + "' " + shape(dst));
        }
        gatherRows(src, rows, 0, rows.length, dst);
    }

    /** dst[rows[i]] = src[i] (scatter) or dst[i] = src[rows[i]] (gather) for the {@code count} indices at offset. */
    private void recordCopyRows(Tensor src, Tensor dst, int[] rows, int offset, int count, boolean scatter) {
        if (count == 0 || src.rowLength() == 0) {
            return;
        }
        Allocation sa = activation(src, scatter ? "scatterRows source" : "gatherRows source");
        Allocation da = activation(dst, scatter ? "scatterRows destination" : "gatherRows destination");
        int rowsOffset = recorder.stage(rows, offset, count);
        long width = src.rowLength();
        recorder.begin(kernel("copy_rows"));
        recorder.bind(sa.buffer, false);
        recorder.bind(da.buffer, true);
        recorder.bind(recorder.arguments(), false);
        recorder.push((long) count);
        recorder.push(width);
        recorder.push(elementOffset(src, sa));
        recorder.push(elementOffset(dst, da));
        recorder.push((long) rowsOffset);
        recorder.push(scatter ? 1 : 0);
        recorder.dispatch(ceilDiv(count * width, workgroupSize), 1);
    }

    private static void requireRows(int[] rows, int offset, int count, Tensor t, String op) {
        long limit = t.rowCount();
        for (int i = offset; i < offset + count; i++) {
            if (rows[i] < 0 || rows[i] >= limit) {
                throw new IndexOutOfBoundsException(op + ": row index " + rows[i] + " (entry " + i + ") is outside '"
                        + t.name() + "' " + shape(t));
            }
        }
    }

    /** One shader reads the block tables directly; there is no contiguous copy of a sequence's cache. */
    @Override
    public synchronized void pagedAttention(Tensor q, Tensor keyPool, Tensor valuePool, BatchLayout batch,
                                            int heads, int kvHeads, int headDim, float scale, Tensor out) {
        checkOpen();
        recordPagedAttention(q, keyPool, valuePool, batch, heads, kvHeads, headDim, scale, 0, null, out);
    }

    @Override
    public synchronized void pagedAttentionWithSinks(Tensor q, Tensor keyPool, Tensor valuePool, BatchLayout batch,
                                                     int heads, int kvHeads, int headDim, float scale, int window,
                                                     Tensor sinks, Tensor out) {
        checkOpen();
        if (window < 0) {
            throw new IllegalArgumentException("attention: negative sliding window " + window);
        }
        if (sinks != null) {
            requireFloatWeight(sinks, "attention sinks");
            if (sinks.elementCount() != heads) {
                throw new IllegalArgumentException("attention: sinks '" + sinks.name() + "' " + shape(sinks)
                        + " should hold one logit for each of " + heads + " heads");
            }
        }
        recordPagedAttention(q, keyPool, valuePool, batch, heads, kvHeads, headDim, scale, window, sinks, out);
    }

    private void recordPagedAttention(Tensor q, Tensor keyPool, Tensor valuePool, BatchLayout batch, int heads,
                                      int kvHeads, int headDim, float scale, int window, Tensor sinks, Tensor out) {
        requireF32(q, "attention query");
        requireF32(keyPool, "attention key pool");
        requireF32(valuePool, "attention value pool");
        requireF32(out, "attention output");
        checkHeads(heads, kvHeads, headDim);
        long width = (long) heads * headDim;
        long kvWidth = (long) kvHeads * headDim;
        int tokens = batch.tokenCount();
        if (q.rowLength() != width || q.rowCount() != tokens || out.rowLength() != width || out.rowCount() != tokens) {
            throw new IllegalArgumentException("attention: query '" + q.name() + "' " + shape(q) + " and output '"
                    + out.name() + "' " + shape(out) + " should be [" + tokens + ", " + heads + " x " + headDim
                    + "] for the batch");
        }
        if (keyPool.rowLength() != kvWidth || valuePool.rowLength() != kvWidth) {
            throw new IllegalArgumentException("attention: pools '" + keyPool.name() + "' " + shape(keyPool) + " and '"
                    + valuePool.name() + "' " + shape(valuePool) + " should have rows of " + kvHeads + " x " + headDim);
        }
        int blockSize = batch.blockSize();
        long poolRows = Math.min(keyPool.rowCount(), valuePool.rowCount());
        for (int s = 0; s < batch.sequenceCount(); s++) {
            int[] table = batch.blockTable(s);
            int end = batch.startPosition(s) + batch.tokenCount(s);
            for (int b = 0; b * blockSize < end; b++) {
                if (table[b] < 0 || (long) (table[b] + 1) * blockSize > poolRows) {
                    throw new IndexOutOfBoundsException("attention: block " + table[b] + " of sequence " + s
                            + " is outside pools of " + poolRows + " rows in blocks of " + blockSize);
                }
            }
        }
        if (tokens == 0) {
            return;
        }
        Allocation qa = activation(q, "attention query");
        Allocation ka = activation(keyPool, "attention key pool");
        Allocation va = activation(valuePool, "attention value pool");
        Allocation oa = activation(out, "attention output");
        DeviceWeight sw = sinks == null ? null : wholeWeight(sinks, "attention sinks");
        // Arguments: (position, block-table offset) per query row, then each sequence's table once.
        int tableInts = 0;
        for (int s = 0; s < batch.sequenceCount(); s++) {
            tableInts += ceilDivInt(batch.startPosition(s) + batch.tokenCount(s), blockSize);
        }
        int[] args = pagedArguments(2 * tokens + tableInts);
        int at = 2 * tokens;
        int longest = 0;
        for (int s = 0; s < batch.sequenceCount(); s++) {
            int end = batch.startPosition(s) + batch.tokenCount(s);
            int blocks = ceilDivInt(end, blockSize);
            System.arraycopy(batch.blockTable(s), 0, args, at, blocks);
            for (int t = batch.tokenStart(s); t < batch.tokenStart(s) + batch.tokenCount(s); t++) {
                args[2 * t] = batch.position(t);
                args[2 * t + 1] = at; // relative for now; made absolute once staged
            }
            longest = Math.max(longest, window > 0 ? Math.min(window, end) : end);
            at += blocks;
        }
        // Scores of (row, head) units go to a scratch buffer of at most one storage buffer; large batches are split
        // into several dispatches over row ranges. Growing the scratch submits the pending work, which recycles the
        // argument ring, so it comes before the arguments are staged.
        long rowsPerDispatch = Math.max(1, Math.min(tokens, (maxBufferBytes / 4) / ((long) longest * heads)));
        DeviceBuffer scratch = scores(4L * rowsPerDispatch * heads * longest);
        ComputeKernel kernel = kernel("paged_attention");
        int staged = recorder.stageReserve(at);
        for (int t = 0; t < tokens; t++) {
            args[2 * t + 1] += staged;
        }
        recorder.stageAt(staged, args, at);
        for (long t0 = 0; t0 < tokens; t0 += rowsPerDispatch) {
            long count = Math.min(rowsPerDispatch, tokens - t0);
            recorder.begin(kernel);
            recorder.bind(qa.buffer, false);
            recorder.bind(ka.buffer, false);
            recorder.bind(va.buffer, false);
            recorder.bind(oa.buffer, true);
            recorder.bind(scratch, true);
            recorder.bind(recorder.arguments(), false);
            recorder.bind(sw == null ? recorder.arguments() : sw.chunks[0], false);
            recorder.push(count);
            recorder.push((long) heads);
            recorder.push((long) kvHeads);
            recorder.push((long) headDim);
            recorder.push(elementOffset(q, qa) + t0 * width);
            recorder.push(elementOffset(keyPool, ka));
            recorder.push(elementOffset(valuePool, va));
            recorder.push(elementOffset(out, oa) + t0 * width);
            recorder.push((long) longest);
            recorder.push(scale);
            recorder.push((long) blockSize);
            recorder.push((long) window);
            recorder.push(staged + 2 * t0);
            recorder.push(sw == null ? 0 : 1);
            recorder.push(sinks == null ? 0 : dtypeCode(sinks.dtype()));
            recorder.push(sw == null ? 0 : sw.elementOffset);
            recorder.dispatch(count * heads, 1);
        }
    }

    /** A reusable host array for staging attention arguments (no allocation per step once it is large enough). */
    private int[] pagedArguments(int size) {
        if (pagedArguments == null || pagedArguments.length < size) {
            pagedArguments = new int[Math.max(size, 256)];
        }
        return pagedArguments;
    }

    private static int ceilDivInt(int a, int b) {
        return (a + b - 1) / b;
    }

    private static void checkHeads(int heads, int kvHeads, int headDim) {
        if (heads <= 0 || kvHeads <= 0 || headDim <= 0 || heads % kvHeads != 0) {
            throw new IllegalArgumentException("attention: " + heads + " query heads cannot be grouped over "
                    + kvHeads + " key/value heads of dimension " + headDim);
        }
        if (headDim > MAX_HEAD_DIM) {
            throw new IllegalArgumentException("attention: head dimension " + headDim + " exceeds the Vulkan "
                    + "kernel's " + MAX_HEAD_DIM);
        }
    }

    /** The codes are decoded inside the dot product of the matmul shader; the packed weight stays packed. */
    @Override
    public synchronized void matmulMxfp4(Tensor x, Tensor blocks, Tensor scales, Tensor bias, Tensor out) {
        checkOpen();
        requireF32(x, "MXFP4 matmul input");
        requireF32(out, "MXFP4 matmul output");
        long k = Mxfp4.columns(blocks, scales, "MXFP4 matmul");
        long n = blocks.rowCount();
        if (x.rowLength() != k || out.rowLength() != n || out.rowCount() != x.rowCount()) {
            throw new IllegalArgumentException("MXFP4 matmul: input " + shape(x) + " and output " + shape(out)
                    + " do not fit a weight of [" + n + ", " + k + "]");
        }
        if (bias != null) {
            requireFloatWeight(bias, "MXFP4 matmul bias");
            if (bias.elementCount() != n) {
                throw new IllegalArgumentException("MXFP4 matmul: bias '" + bias.name() + "' has "
                        + bias.elementCount() + " elements but weight '" + blocks.name() + "' has " + n + " rows");
            }
        }
        if (x.data().address() == out.data().address()) {
            throw new IllegalArgumentException("MXFP4 matmul: output '" + out.name() + "' may not alias input '"
                    + x.name() + "'");
        }
        DeviceWeight dw = weight(blocks, "MXFP4 blocks");
        DeviceWeight ds = wholeWeight(scales, "MXFP4 scales");
        DeviceWeight db = bias == null ? null : wholeWeight(bias, "MXFP4 matmul bias");
        recordMatmul(x, dw, DTYPE_MXFP4, k, n, blocks.rowLength(), db, bias == null ? 0 : dtypeCode(bias.dtype()),
                ds, 0, scales.rowLength(), 1, Mxfp4.BLOCK, out);
    }

    @Override
    public synchronized void clampedSwiGlu(Tensor gateUp, float limit, float alpha, Tensor out) {
        checkOpen();
        requireF32(gateUp, "clamped SwiGLU input");
        requireF32(out, "clamped SwiGLU output");
        if (gateUp.rowLength() != 2 * out.rowLength() || gateUp.rowCount() != out.rowCount()) {
            throw new IllegalArgumentException("clamped SwiGLU: input " + shape(gateUp)
                    + " should be twice as wide as output " + shape(out));
        }
        Allocation ia = activation(gateUp, "clamped SwiGLU input");
        Allocation oa = activation(out, "clamped SwiGLU output");
        recorder.begin(kernel("clamped_swiglu"));
        recorder.bind(ia.buffer, false);
        recorder.bind(oa.buffer, true);
        recorder.push(out.rowCount());
        recorder.push(out.rowLength());
        recorder.push(elementOffset(gateUp, ia));
        recorder.push(elementOffset(out, oa));
        recorder.push(limit);
        recorder.push(alpha);
        recorder.dispatch(ceilDiv(out.elementCount(), workgroupSize), 1);
    }

    @Override
    public synchronized void attention(Tensor q, Tensor keyCache, Tensor valueCache, int startPos, int heads,
                                       int kvHeads, int headDim, float scale, Tensor out) {
        checkOpen();
        requireF32(q, "attention query");
        requireF32(keyCache, "attention key cache");
        requireF32(valueCache, "attention value cache");
        requireF32(out, "attention output");
        checkHeads(heads, kvHeads, headDim);
        long width = (long) heads * headDim;
        long kvWidth = (long) kvHeads * headDim;
        if (q.elementCount() % width != 0) {
            throw new IllegalArgumentException("attention: query '" + q.name() + "' " + shape(q)
                    + " is not a whole number of rows of " + heads + " heads x " + headDim);
        }
        long tokens = q.elementCount() / width;
        requireSameCount(q, out, "attention");
        if (startPos < 0) {
            throw new IllegalArgumentException("attention: negative start position " + startPos);
        }
        checkCache(keyCache, kvWidth, startPos, tokens);
        checkCache(valueCache, kvWidth, startPos, tokens);
        if (tokens == 0) {
            return;
        }
        Allocation qa = activation(q, "attention query");
        Allocation ka = activation(keyCache, "attention key cache");
        Allocation va = activation(valueCache, "attention value cache");
        Allocation oa = activation(out, "attention output");
        long context = startPos + tokens;
        // Scores of (token, head) units go to a scratch buffer of at most one storage buffer; long prompts are
        // split into several dispatches over token ranges.
        long unitsPerDispatch = Math.max(1, Math.min(tokens * heads, (maxBufferBytes / 4) / context) / heads) * heads;
        DeviceBuffer scratch = scores(4L * unitsPerDispatch * context);
        ComputeKernel kernel = kernel("attention");
        long tokensPerDispatch = unitsPerDispatch / heads;
        for (long t0 = 0; t0 < tokens; t0 += tokensPerDispatch) {
            long count = Math.min(tokensPerDispatch, tokens - t0);
            recorder.begin(kernel);
            recorder.bind(qa.buffer, false);
            recorder.bind(ka.buffer, false);
            recorder.bind(va.buffer, false);
            recorder.bind(oa.buffer, true);
            recorder.bind(scratch, true);
            recorder.push(count);
            recorder.push((long) heads);
            recorder.push((long) kvHeads);
            recorder.push((long) headDim);
            recorder.push(startPos + t0);
            recorder.push(elementOffset(q, qa) + t0 * width);
            recorder.push(elementOffset(keyCache, ka));
            recorder.push(elementOffset(valueCache, va));
            recorder.push(elementOffset(out, oa) + t0 * width);
            recorder.push(context);
            recorder.push(scale);
            recorder.dispatch(count * heads, 1);
        }
    }

    @Override
    public synchronized void add(Tensor x, Tensor y) {
        checkOpen();
        requireF32(x, "add destination");
        requireF32(y, "add operand");
        requireSameCount(x, y, "add");
        Allocation xa = activation(x, "add destination");
        Allocation ya = activation(y, "add operand");
        recorder.begin(kernel("add"));
        recorder.bind(xa.buffer, true);
        recorder.bind(ya.buffer, false);
        recorder.push(x.elementCount());
        recorder.push(elementOffset(x, xa));
        recorder.push(elementOffset(y, ya));
        recorder.dispatch(ceilDiv(x.elementCount(), workgroupSize), 1);
    }

    @Override
    public synchronized void gatherRows(Tensor src, int[] rows, int offset, int count, Tensor dst) {
        checkOpen();
        requireF32(src, "gatherRows source");
        requireF32(dst, "gatherRows destination");
        if (offset < 0 || count < 0 || count > dst.rowCount() || src.rowLength() != dst.rowLength()
                || offset + count > rows.length) {
            throw new IllegalArgumentException("gatherRows: rows [" + offset + ", " + (offset + count) + ") of "
                    + rows.length + " from '" + src.name() + "' " + shape(src) + " into '" + dst.name() + "' "
                    + shape(dst));
        }
        requireRows(rows, offset, count, src, "gatherRows");
        recordCopyRows(src, dst, rows, offset, count, false);
    }

    @Override
    public synchronized void scatterAddRows(Tensor src, int[] rows, float[] weights, int offset, int count,
                                            Tensor dst) {
        checkOpen();
        requireF32(src, "scatterAddRows source");
        requireF32(dst, "scatterAddRows destination");
        if (offset < 0 || count < 0 || count > src.rowCount() || src.rowLength() != dst.rowLength()
                || offset + count > rows.length || offset + count > weights.length) {
            throw new IllegalArgumentException("scatterAddRows: rows [" + offset + ", " + (offset + count) + ") of '"
                    + src.name() + "' " + shape(src) + " into '" + dst.name() + "' " + shape(dst));
        }
        requireRows(rows, offset, count, dst, "scatterAddRows");
        long width = src.rowLength();
        if (count == 0 || width == 0) {
            return;
        }
        Allocation sa = activation(src, "scatterAddRows source");
        Allocation da = activation(dst, "scatterAddRows destination");
        int staged = recorder.stageReserve(2 * count);
        recorder.stageAt(staged, rows, offset, count);
        recorder.stageFloatsAt(staged + count, weights, offset, count);
        recorder.begin(kernel("scatter_add_rows"));
        recorder.bind(sa.buffer, false);
        recorder.bind(da.buffer, true);
        recorder.bind(recorder.arguments(), false);
        recorder.push((long) count);
        recorder.push(width);
        recorder.push(elementOffset(src, sa));
        recorder.push(elementOffset(dst, da));
        recorder.push((long) staged);
        recorder.dispatch(ceilDiv(width, workgroupSize), 1);
    }

    @Override
    public synchronized void siluMul(Tensor gate, Tensor up, Tensor out) {
        checkOpen();
        requireF32(gate, "siluMul gate");
        requireF32(up, "siluMul up");
        requireF32(out, "siluMul output");
        requireSameCount(gate, up, "siluMul");
        requireSameCount(gate, out, "siluMul");
        Allocation ga = activation(gate, "siluMul gate");
        Allocation ua = activation(up, "siluMul up");
        Allocation oa = activation(out, "siluMul output");
        recorder.begin(kernel("silu_mul"));
        recorder.bind(ga.buffer, false);
        recorder.bind(ua.buffer, false);
        recorder.bind(oa.buffer, true);
        recorder.push(gate.elementCount());
        recorder.push(elementOffset(gate, ga));
        recorder.push(elementOffset(up, ua));
        recorder.push(elementOffset(out, oa));
        recorder.dispatch(ceilDiv(gate.elementCount(), workgroupSize), 1);
    }

    @Override
    public synchronized void softmax(Tensor x) {
        checkOpen();
        requireF32(x, "softmax input");
        Allocation xa = activation(x, "softmax input");
        recorder.begin(kernel("softmax"));
        recorder.bind(xa.buffer, true);
        recorder.push(x.rowCount());
        recorder.push(x.rowLength());
        recorder.push(elementOffset(x, xa));
        recorder.dispatch(x.rowLength() == 0 ? 0 : x.rowCount(), 1);
    }

    @Override
    public synchronized int argmax(Tensor x, int row) {
        checkOpen();
        requireF32(x, "argmax input");
        long width = x.rowLength();
        if (row < 0 || row >= x.rowCount() || width == 0) {
            throw new IndexOutOfBoundsException("argmax: row " + row + " of tensor '" + x.name() + "' "
                    + shape(x));
        }
        Allocation xa = activation(x, "argmax input");
        long address = x.data().address();
        if (argmaxEpoch == memoryEpoch() && argmaxAddress == address && argmaxWidth == width
                && row >= argmaxFirstRow && row < argmaxFirstRow + argmaxRows) {
            return results.mapped().get(ValueLayout.JAVA_INT, 4L * (row - argmaxFirstRow));
        }
        // A batch's sequences each want the argmax of their row: a small matrix gets every row's in the one
        // submission, and the following calls read them while nothing has been recorded since.
        long rows = x.rowCount() <= MAX_ARGMAX_ROWS ? x.rowCount() : 1;
        long first = rows == 1 ? row : 0;
        recorder.begin(kernel("argmax"));
        recorder.bind(xa.buffer, false);
        recorder.bind(results, true);
        recorder.push(width);
        recorder.push(elementOffset(x, xa) + first * width);
        recorder.push(0L);
        recorder.dispatch(rows, 1);
        recorder.submit();
        argmaxEpoch = memoryEpoch();
        argmaxAddress = address;
        argmaxWidth = width;
        argmaxFirstRow = first;
        argmaxRows = rows;
        return results.mapped().get(ValueLayout.JAVA_INT, 4L * (row - first));
    }

    /** Changes whenever an activation may have changed: a recorded command, or a host write. */
    private long memoryEpoch() {
        return recorder.recorded() + hostWrites;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        recorder.submit();
        releaseWeights();
        closed = true;
        for (Allocation a : allocations.values()) {
            context.destroy(a.buffer);
            if (a.reservation != null) {
                AddressReservation.release(a.reservation);
            }
        }
        allocations.clear();
        allocationIndex = null;
        for (ComputeKernel k : kernels.values()) {
            k.close();
        }
        kernels.clear();
        if (staging != null) {
            context.destroy(staging);
        }
        if (scores != null) {
            context.destroy(scores);
        }
        context.destroy(results);
        recorder.close();
        context.close();
    }

    // ---------------------------------------------------------------------------------------------------------
    // Tensor to buffer

    /** The activation buffer holding a tensor's bytes. */
    private Allocation activation(Tensor t, String role) {
        Allocation a = containing(t.data());
        if (a == null) {
            throw new IllegalArgumentException(role + " '" + t.name() + "' is not a tensor allocated by this "
                    + "Vulkan backend (activations must come from allocate())");
        }
        return a;
    }

    /**
     * The allocation holding a segment, or null. A binary search over a sorted copy of the allocations, rebuilt only
     * when they change: unlike {@link TreeMap#floorEntry}, a lookup allocates nothing, and every op of every decode
     * step makes several.
     */
    private Allocation containing(MemorySegment segment) {
        if (allocationIndex == null) {
            allocationIndex = allocations.values().toArray(new Allocation[0]);
        }
        long at = segment.address();
        int lo = 0;
        int hi = allocationIndex.length - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (allocationIndex[mid].address <= at) {
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        return hi >= 0 && allocationIndex[hi].contains(segment) ? allocationIndex[hi] : null;
    }

    private static long elementOffset(Tensor t, Allocation a) {
        return (t.data().address() - a.address) / t.dtype().byteSize();
    }

    /**
     * The device copy of a read-only tensor, uploading it on first use. Activations of this backend (e.g. rotary
     * tables) serve directly, as a single chunk at their offset.
     */
    private DeviceWeight weight(Tensor t, String role) {
        DeviceWeight w = weightsByTensor.get(t);
        if (w != null && w.scope.isAlive()) {
            return w;
        }
        Allocation a = containing(t.data());
        if (a != null) {
            // Remembered until the activation is freed (see free), so that a table read every step is resolved
            // without allocating; a caller making a fresh view each step cannot grow the map without bound.
            DeviceWeight view = new DeviceWeight(new DeviceBuffer[] {a.buffer}, t.rowCount(), elementOffset(t, a),
                    t.byteSize(), t.data().scope(), false, 0, 0);
            if (++activationViews > 1024) {
                weightsByTensor.values().removeIf(v -> !v.owned);
                activationViews = 1;
            }
            weightsByTensor.put(t, view);
            return view;
        }
        if (w != null) {
            // The memory it was uploaded from has been unmapped; the tensor is stale.
            weightsByTensor.remove(t);
        }
        evictDeadWeights();
        long key = t.data().address();
        DeviceWeight known = weightsByAddress.get(key);
        // The same bytes under another shape are the same weight only while one buffer holds it all.
        if (known != null && known.scope.isAlive() && known.bytes == t.byteSize() && known.chunks.length == 1) {
            weightsByTensor.put(t, known);
            return known;
        }
        DeviceWeight within = viewOfUploaded(t);
        if (within != null) {
            weightsByTensor.put(t, within);
            return within;
        }
        DeviceWeight uploaded = uploadWeight(t, role);
        uploadedWeights.add(uploaded);
        weightsByAddress.put(key, uploaded);
        weightsByTensor.put(t, uploaded);
        return uploaded;
    }

    /**
     * A view of a weight already on the device (an expert's rows of a stacked tensor, say) when the view's bytes lie
     * inside one of its buffers, else null. Views spanning two buffers are uploaded on their own.
     */
    private DeviceWeight viewOfUploaded(Tensor t) {
        long start = t.data().address();
        long end = start + t.byteSize();
        for (DeviceWeight w : uploadedWeights) {
            if (!w.scope.isAlive() || start < w.address || end > w.address + w.bytes) {
                continue;
            }
            long from = start - w.address;
            int chunk = (int) (from / w.chunkBytes);
            long inChunk = from - chunk * w.chunkBytes;
            if (inChunk + t.byteSize() > w.chunkBytes || inChunk % t.dtype().byteSize() != 0) {
                return null;
            }
            return new DeviceWeight(new DeviceBuffer[] {w.chunks[chunk]}, Math.max(1, t.rowCount()),
                    inChunk / t.dtype().byteSize(), t.byteSize(), w.scope, false, 0, 0);
        }
        return null;
    }

    /** Uploads the weight now (see {@link Ops#prepareWeight}); its views later use this copy. */
    @Override
    public synchronized void prepareWeight(Tensor weight) {
        checkOpen();
        if (weight.byteSize() > 0) {
            weight(weight, "weight");
        }
    }

    private DeviceWeight uploadWeight(Tensor t, String role) {
        long rowBytes = t.rank() <= 1 ? t.byteSize() : t.rowLength() * t.dtype().byteSize();
        long rows = t.rank() <= 1 ? 1 : t.rowCount();
        if (rowBytes > maxBufferBytes) {
            throw new VulkanException(role + " '" + t.name() + "': one row of " + rowBytes + " bytes exceeds the "
                    + maxBufferBytes + " bytes a storage buffer may hold on " + context.info.name());
        }
        long rowsPerChunk = Math.max(1, Math.min(rows, maxBufferBytes / rowBytes));
        int chunkCount = (int) Math.max(1, ceilDiv(rows, rowsPerChunk));
        // Submit pending work first: the upload below submits its own copies.
        recorder.submit();
        DeviceBuffer[] chunks = new DeviceBuffer[chunkCount];
        try {
            for (int c = 0; c < chunkCount; c++) {
                long first = c * rowsPerChunk;
                long bytes = Math.min(rowsPerChunk, rows - first) * rowBytes;
                // Shaders read byte-sized elements as 32-bit words: round up so the last word is inside the buffer.
                chunks[c] = context.createBuffer((bytes + 3) & ~3L, VulkanContext.DEVICE_LOCAL,
                        "weight '" + t.name() + "'" + (chunkCount > 1 ? " part " + c : ""));
                MemorySegment src = t.data().asSlice(first * rowBytes, bytes);
                if (chunks[c].mapped() != null && !options.stageUploads()) {
                    MemorySegment.copy(src, 0, chunks[c].mapped(), 0, bytes);
                } else {
                    stagedUpload(src, chunks[c]);
                }
            }
        } catch (RuntimeException e) {
            for (DeviceBuffer b : chunks) {
                if (b != null) {
                    context.destroy(b);
                }
            }
            throw e;
        }
        weightBytes += t.byteSize();
        return new DeviceWeight(chunks, t.rank() <= 1 ? 1 : rowsPerChunk, 0, t.byteSize(), t.data().scope(), true,
                t.data().address(), rowsPerChunk * rowBytes);
    }

    private void stagedUpload(MemorySegment src, DeviceBuffer dst) {
        long done = 0;
        while (done < src.byteSize()) {
            DeviceBuffer stage = staging(src.byteSize() - done);
            long piece = Math.min(stage.size(), src.byteSize() - done);
            MemorySegment.copy(src, done, stage.mapped(), 0, piece);
            recorder.copy(stage, 0, dst, done, piece);
            recorder.submit();
            done += piece;
        }
    }

    private void evictDeadWeights() {
        boolean anyDead = false;
        for (DeviceWeight w : uploadedWeights) {
            anyDead |= !w.scope.isAlive();
        }
        if (!anyDead) {
            return;
        }
        recorder.submit();
        weightsByAddress.values().removeIf(w -> !w.scope.isAlive());
        weightsByTensor.values().removeIf(w -> !w.scope.isAlive());
        uploadedWeights.removeIf(w -> {
            if (w.scope.isAlive()) {
                return false;
            }
            destroy(w);
            return true;
        });
    }

    private void destroy(DeviceWeight w) {
        if (!w.owned) {
            return;
        }
        for (DeviceBuffer b : w.chunks) {
            context.destroy(b);
        }
        weightBytes -= w.bytes;
    }

    /** A host-visible buffer for uploads and downloads, of up to 64 MiB. */
    private DeviceBuffer staging(long wanted) {
        long size = Math.min(Math.max(wanted, 1 << 20), Math.min(64L << 20, maxBufferBytes));
        if (staging == null || staging.size() < Math.min(size, wanted)) {
            recorder.submit();
            if (staging != null) {
                context.destroy(staging);
            }
            staging = context.createBuffer(size, VulkanContext.HOST_COHERENT, "staging buffer");
        }
        return staging;
    }

    private DeviceBuffer scores(long bytes) {
        if (scores == null || scores.size() < bytes) {
            recorder.submit();
            if (scores != null) {
                context.destroy(scores);
            }
            long size = Math.min(Math.max(bytes, scores == null ? 1 << 20 : 2 * scores.size()), maxBufferBytes);
            scores = context.createBuffer(Math.max(size, bytes), VulkanContext.DEVICE_LOCAL, "attention scores");
        }
        return scores;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Kernels

    private ComputeKernel kernel(String shader) {
        ComputeKernel k = kernels.get(shader);
        if (k == null) {
            k = new ComputeKernel(context, shader, Map.of("WG", Integer.toString(workgroupSize)), bindings(shader));
            kernels.put(shader, k);
        }
        return k;
    }

    private ComputeKernel kernel(ComputeKernel[] variants, String shader, DType weightType) {
        return kernel(variants, shader, dtypeCode(weightType));
    }

    private ComputeKernel kernel(ComputeKernel[] variants, String shader, int code) {
        return kernel(variants, shader, code, Map.of());
    }

    private ComputeKernel kernel(ComputeKernel[] variants, String shader, int code, Map<String, String> extra) {
        ComputeKernel k = variants[code];
        if (k == null) {
            Map<String, String> macros = new HashMap<>(extra);
            macros.put("WG", Integer.toString(workgroupSize));
            macros.put("WEIGHT_DTYPE", Integer.toString(code));
            k = new ComputeKernel(context, shader, macros, bindings(shader));
            variants[code] = k;
            kernels.put(shader + "/" + code + extra, k);
        }
        return k;
    }

    private static int bindings(String shader) {
        return switch (shader) {
            case "rope" -> 4;
            case "matmul", "attention" -> 5;
            case "paged_attention" -> 7;
            case "embedding", "rms_norm", "silu_mul", "copy_rows", "scatter_add_rows" -> 3;
            case "add", "add_scaled", "argmax", "clamped_swiglu" -> 2;
            case "softmax" -> 1;
            default -> throw new IllegalArgumentException("unknown shader " + shader);
        };
    }

    private static int dtypeCode(DType dtype) {
        return switch (dtype) {
            case F32 -> DTYPE_F32;
            case BF16 -> DTYPE_BF16;
            case F16 -> DTYPE_F16;
            case F8_E4M3 -> DTYPE_F8_E4M3;
            case F8_E5M2 -> DTYPE_F8_E5M2;
            default -> -1;
        };
    }

    private static boolean isFp8(DType dtype) {
        return dtype == DType.F8_E4M3 || dtype == DType.F8_E5M2;
    }

    /** {@link #weight} for a tensor a shader reads through one binding: scales, biases, sinks. */
    private DeviceWeight wholeWeight(Tensor t, String role) {
        DeviceWeight w = weight(t, role);
        if (w.chunks.length != 1) {
            throw new VulkanException(role + " '" + t.name() + "' of " + t.byteSize() + " bytes does not fit one "
                    + "storage buffer of " + maxBufferBytes + " bytes on " + context.info.name());
        }
        return w;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Checks

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the Vulkan backend is closed");
        }
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    private static void checkCache(Tensor cache, long kvWidth, int startPos, long tokens) {
        if (cache.rowLength() != kvWidth || cache.rowCount() < startPos + tokens) {
            throw new IllegalArgumentException("attention: cache '" + cache.name() + "' " + shape(cache)
                    + " cannot hold positions [0, " + (startPos + tokens) + ") of width " + kvWidth);
        }
    }


    private static void requireFloatWeight(Tensor t, String role) {
        if (t.dtype() != DType.F32 && t.dtype() != DType.BF16 && t.dtype() != DType.F16) {
            throw new IllegalArgumentException(role + " '" + t.name() + "' has dtype " + t.dtype()
                    + "; the Vulkan kernels read F32, BF16 and F16");
        }
    }


}
