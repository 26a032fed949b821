package ai.parallax.tensors;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Objects;

/**
 * A named, shaped, typed view over bytes in a {@link MemorySegment}: off-heap, either memory-mapped from a
 * checkpoint (weights) or allocated by a backend (activations). Elements are row-major and little-endian.
 *
 * <p>A tensor never copies its bytes; {@link #rows(long, long)} makes a view of a range of rows.
 *
 * <p>A quantised weight matrix may carry its {@link BlockScales}: the kernels then dequantise inside the dot
 * product, and every call site that multiplies by the weight stays the same.
 */
public final class Tensor {
    private final String name;
    private final DType dtype;
    private final long[] shape;
    private final MemorySegment data;
    private final BlockScales blockScales;

    public Tensor(String name, DType dtype, long[] shape, MemorySegment data) {
        this(name, dtype, shape, data, null);
    }

    private Tensor(String name, DType dtype, long[] shape, MemorySegment data, BlockScales blockScales) {
        this.name = Objects.requireNonNull(name, "name");
        this.dtype = Objects.requireNonNull(dtype, "dtype");
        this.shape = shape.clone();
        this.data = Objects.requireNonNull(data, "data");
        long expected = Math.multiplyExact(elementCount(shape), dtype.byteSize());
        if (data.byteSize() != expected) {
            throw new IllegalArgumentException("tensor '" + name + "': " + data.byteSize() + " bytes for shape "
                    + Arrays.toString(shape) + " " + dtype + " which needs " + expected);
        }
        if (blockScales != null && (shape.length != 2 || !blockScales.fits(shape[0], shape[1]))) {
            throw new IllegalArgumentException("tensor '" + name + "' " + Arrays.toString(shape) + ": block scales '"
                    + blockScales.scales().name() + "' " + Arrays.toString(blockScales.scales().shape())
                    + " with block size [" + blockScales.blockRows() + ", " + blockScales.blockCols()
                    + "] should be " + Arrays.toString(shape.length == 2 ? BlockScales.expectedShape(shape[0], shape[1],
                    blockScales.blockRows(), blockScales.blockCols()) : new long[0]));
        }
        this.blockScales = blockScales;
    }

    /** This weight matrix with its dequantisation scales attached; the bytes are shared, not copied. */
    public Tensor withBlockScales(BlockScales scales) {
        return new Tensor(name, dtype, shape, data, Objects.requireNonNull(scales, "scales"));
    }

    /** The block scales of a quantised weight, or null when its elements are its values. */
    public BlockScales blockScales() {
        return blockScales;
    }

    public static long elementCount(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    public String name() {
        return name;
    }

    public DType dtype() {
        return dtype;
    }

    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int i) {
        return shape[i < 0 ? shape.length + i : i];
    }

    public long elementCount() {
        return elementCount(shape);
    }

    public MemorySegment data() {
        return data;
    }

    public long byteSize() {
        return data.byteSize();
    }

    /** Number of rows when the tensor is seen as a matrix [rows, lastDim]. */
    public long rowCount() {
        return shape.length == 0 ? 1 : elementCount() / shape[shape.length - 1];
    }

    /** Length of the last dimension. */
    public long rowLength() {
        return shape.length == 0 ? 1 : shape[shape.length - 1];
    }

    /** A view of rows [from, from+count) of this tensor seen as [rows, lastDim]; no bytes are copied. */
    public Tensor rows(long from, long count) {
        if (blockScales != null) {
            throw new UnsupportedOperationException("rows of block-scaled tensor '" + name + "'");
        }
        long rowBytes = rowLength() * dtype.byteSize();
        if (from < 0 || count < 0 || from + count > rowCount()) {
            throw new IndexOutOfBoundsException("rows [" + from + ", " + (from + count) + ") of tensor '" + name
                    + "' with " + rowCount() + " rows");
        }
        return new Tensor(name, dtype, new long[] {count, rowLength()}, data.asSlice(from * rowBytes, count * rowBytes));
    }

    /** The same bytes under another shape with the same element count. */
    public Tensor reshape(long... newShape) {
        if (blockScales != null) {
            throw new UnsupportedOperationException("reshape of block-scaled tensor '" + name + "'");
        }
        if (elementCount(newShape) != elementCount()) {
            throw new IllegalArgumentException("cannot reshape tensor '" + name + "' " + Arrays.toString(shape)
                    + " to " + Arrays.toString(newShape));
        }
        return new Tensor(name, dtype, newShape, data);
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + (blockScales == null ? ""
                : " scaled per [" + blockScales.blockRows() + ", " + blockScales.blockCols() + "] block");
    }
}
