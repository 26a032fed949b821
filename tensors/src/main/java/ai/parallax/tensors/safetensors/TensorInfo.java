package ai.parallax.tensors.safetensors;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.Tensor;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;

/**
 * Where one tensor lives, as validated from a safetensors header: its dtype and shape, and the byte range it occupies
 * in {@code file}. Knowing this needs no access to the tensor's bytes.
 *
 * @param name       the tensor's name in the header
 * @param dtype      element type
 * @param shape      dimensions, row-major; empty for a scalar
 * @param fileOffset absolute offset of the first byte in the file (header length prefix and header included)
 * @param byteSize   number of bytes, {@code elementCount(shape) * dtype.byteSize()}
 * @param file       the safetensors file holding the bytes
 */
public record TensorInfo(String name, DType dtype, long[] shape, long fileOffset, long byteSize, Path file) {

    public TensorInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(file, "file");
        shape = shape.clone();
    }

    @Override
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
        return Tensor.elementCount(shape);
    }

    // A record compares arrays by identity; two infos about the same bytes should be equal.
    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo other
                && name.equals(other.name) && dtype == other.dtype && Arrays.equals(shape, other.shape)
                && fileOffset == other.fileOffset && byteSize == other.byteSize && file.equals(other.file);
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape), fileOffset, byteSize, file);
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + " at " + file + "[" + fileOffset + ", "
                + (fileOffset + byteSize) + ")";
    }
}
