package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.VectorLoads.F;
import static ai.parallax.kernels.simd.VectorLoads.FLOAT;
import static ai.parallax.kernels.simd.VectorLoads.L;
import static ai.parallax.kernels.simd.VectorLoads.LE;

import ai.parallax.tensors.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;

/**
 * Moving token rows between the residual stream and per-expert batches, for mixture-of-experts layers: a gather
 * before an expert's matmuls and a weighted scatter-add after them. Rows are a hidden state wide (a few thousand
 * floats) and an expert sees few of them per step, so these run on the calling thread; the matmuls between them
 * are what is split over threads.
 */
final class RowRouting {
    private RowRouting() {
    }

    static void checkRows(String op, Tensor src, int[] rows, int offset, int count, Tensor dst, long srcRowsNeeded,
                          long rowBound) {
        if (src.rowLength() != dst.rowLength()) {
            throw new IllegalArgumentException(op + ": '" + src.name() + "' " + Arrays.toString(src.shape())
                    + " and '" + dst.name() + "' " + Arrays.toString(dst.shape()) + " differ in row length");
        }
        if (offset < 0 || count < 0 || offset + count > rows.length) {
            throw new IndexOutOfBoundsException(op + ": rows [" + offset + ", " + (offset + count)
                    + ") of an index array of " + rows.length);
        }
        long batchRows = op.startsWith("gather") ? dst.rowCount() : src.rowCount();
        if (batchRows < count) {
            throw new IllegalArgumentException(op + ": " + count + " rows do not fit a batch of " + batchRows);
        }
        for (int i = offset; i < offset + count; i++) {
            if (rows[i] < 0 || rows[i] >= rowBound) {
                throw new IndexOutOfBoundsException(op + ": row " + rows[i] + " outside [0, " + rowBound + ")");
            }
        }
    }

    static void gather(MemorySegment src, long width, int[] rows, int offset, int count, MemorySegment dst) {
        long rowBytes = 4 * width;
        for (int i = 0; i < count; i++) {
            MemorySegment.copy(src, rowBytes * rows[offset + i], dst, rowBytes * i, rowBytes);
        }
    }

    static void scatterAdd(MemorySegment src, long width, int[] rows, float[] weights, int offset, int count,
                           MemorySegment dst) {
        long rowBytes = 4 * width;
        long vectorEnd = width - width % L;
        for (int i = 0; i < count; i++) {
            long s = rowBytes * i;
            long d = rowBytes * rows[offset + i];
            float weight = weights[offset + i];
            FloatVector w = FloatVector.broadcast(F, weight);
            long j = 0;
            for (; j < vectorEnd; j += L) {
                FloatVector y = FloatVector.fromMemorySegment(F, src, s + 4 * j, LE);
                FloatVector acc = FloatVector.fromMemorySegment(F, dst, d + 4 * j, LE);
                y.fma(w, acc).intoMemorySegment(dst, d + 4 * j, LE);
            }
            for (; j < width; j++) {
                dst.set(FLOAT, d + 4 * j, Math.fma(src.get(FLOAT, s + 4 * j), weight, dst.get(FLOAT, d + 4 * j)));
            }
        }
    }
}
