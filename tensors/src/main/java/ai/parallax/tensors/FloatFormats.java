package ai.parallax.tensors;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Exact scalar conversions between {@code float} and the narrow floating-point formats that checkpoints store.
 * These are the reference definitions that kernels are tested against, and the way tests and reference code read
 * single elements; vectorised kernels implement the same arithmetic in bulk.
 */
public final class FloatFormats {
    /** Tensor bytes are little-endian whatever the machine's byte order (safetensors specification). */
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private FloatFormats() {
    }

    /** bfloat16 is the upper half of a float32, so widening is exact. */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /**
     * Rounds to the nearest bfloat16, ties to even (as PyTorch's {@code tensor.to(torch.bfloat16)} does). Values
     * beyond the bfloat16 range become infinities; a NaN stays a NaN (made quiet, so that truncating its payload can
     * never turn it into an infinity).
     */
    public static short floatToBf16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        int lsb = (bits >>> 16) & 1;
        return (short) ((bits + 0x7FFF + lsb) >>> 16);
    }

    /** IEEE 754 binary16 to float; exact. */
    public static float f16ToFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    /** float to IEEE 754 binary16, round to nearest even, overflow to infinity. */
    public static short floatToF16(float value) {
        return Float.floatToFloat16(value);
    }

    /**
     * FP8 E4M3 in the "FN" variant used by {@code torch.float8_e4m3fn} and safetensors {@code F8_E4M3}: 1 sign bit,
     * 4 exponent bits with bias 7, 3 mantissa bits; no infinities, and only S.1111.111 is NaN, so the largest
     * magnitude is 1.75 * 2^8 = 448. Exponent 0 encodes subnormals m/8 * 2^-6.
     */
    public static float f8e4m3ToFloat(byte bits) {
        int sign = (bits >>> 7) & 1;
        int exponent = (bits >>> 3) & 0xF;
        int mantissa = bits & 0x7;
        float magnitude;
        if (exponent == 0xF && mantissa == 0x7) {
            return Float.NaN;
        } else if (exponent == 0) {
            magnitude = mantissa * 0x1p-9f;
        } else {
            // Rebias 7 -> 127 and move the 3 mantissa bits to the top of float's 23.
            magnitude = Float.intBitsToFloat(((exponent - 7 + 127) << 23) | (mantissa << 20));
        }
        return sign == 0 ? magnitude : -magnitude;
    }

    /**
     * FP8 E5M2 ({@code torch.float8_e5m2}, safetensors {@code F8_E5M2}): 1 sign, 5 exponent bits with bias 15,
     * 2 mantissa bits, IEEE-like infinities and NaNs. It is exactly the upper byte of a binary16, so it widens
     * through {@link #f16ToFloat}.
     */
    public static float f8e5m2ToFloat(byte bits) {
        return Float.float16ToFloat((short) ((bits & 0xFF) << 8));
    }

    /**
     * Element {@code index} (row-major, counting from 0 over all elements) of a floating-point tensor, converted
     * to float. For reference code and tests, not for kernels: it checks and dispatches on every call.
     *
     * @throws IllegalArgumentException if the tensor's dtype is not a floating-point type
     * @throws IndexOutOfBoundsException if index is outside the tensor
     */
    public static float readFloat(Tensor tensor, long index) {
        long count = tensor.elementCount();
        if (index < 0 || index >= count) {
            throw new IndexOutOfBoundsException("element " + index + " of tensor '" + tensor.name() + "' with "
                    + count + " elements");
        }
        MemorySegment data = tensor.data();
        return switch (tensor.dtype()) {
            case F32 -> data.get(F32_LE, index * 4);
            case F16 -> f16ToFloat(data.get(I16_LE, index * 2));
            case BF16 -> bf16ToFloat(data.get(I16_LE, index * 2));
            case F8_E4M3 -> f8e4m3ToFloat(data.get(ValueLayout.JAVA_BYTE, index));
            case F8_E5M2 -> f8e5m2ToFloat(data.get(ValueLayout.JAVA_BYTE, index));
            case I8, U8, I32, I64, BOOL -> throw new IllegalArgumentException("tensor '" + tensor.name() + "' holds "
                    + tensor.dtype() + ", not a floating-point type");
        };
    }
}
