package ai.parallax.kernels.simd;

import ai.parallax.tensors.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Loads of F32, BF16 and F16 elements from little-endian memory, widened to float in vector registers, plus the
 * scalar equivalents for loop tails. This is how weights stay in their stored format: they are converted lane by
 * lane as the dot product consumes them, never expanded into a float copy.
 */
final class VectorLoads {
    private VectorLoads() {
    }

    /**
     * The float species of every kernel. The preferred one (512 bits with AVX-512), but at least 128 bits, so the
     * 16-bit loads below have a shape of half its width (64 bits or more).
     */
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 128
            ? FloatVector.SPECIES_PREFERRED : FloatVector.SPECIES_128;
    static final VectorSpecies<Integer> I = F.withLanes(int.class);
    /** As many 16-bit lanes as {@link #F} has float lanes: a half-width vector. */
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class,
            VectorShape.forBitSize(F.vectorBitSize() / 2));
    static final int L = F.length();

    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);

    /** 2^112: scales a float whose bits are an F16 shifted into place, re-biasing its exponent. */
    private static final float F16_EXPONENT_REBIAS = 0x1p112f;
    /** Keeps bit 31 (the sign) and bits 27..13 (exponent and significand) of an F16 shifted left by 13. */
    private static final int F16_SIGN_EXPONENT_SIGNIFICAND = 0x8FFF_E000;
    /** Bits of the float 2^16: a widened magnitude this large came from an F16 infinity or NaN. */
    private static final int F16_OVERFLOW_BITS = 0x4780_0000;

    static FloatVector f32(MemorySegment m, long byteOffset) {
        return FloatVector.fromMemorySegment(F, m, byteOffset, LE);
    }

    /** BF16 is the upper half of an F32: sign-extend to int and shift the 16 bits into the top. */
    static FloatVector bf16(MemorySegment m, long byteOffset) {
        ShortVector s = ShortVector.fromMemorySegment(S, m, byteOffset, LE);
        IntVector i = (IntVector) s.convertShape(VectorOperators.S2I, I, 0);
        return i.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /**
     * F16 (IEEE 754 binary16) to float without a table or a branch, in seven vector operations. Shifting the
     * sign-extended 16 bits left by 13 lines the 10-bit significand up with the float's 23-bit one and puts the 5-bit
     * exponent in the low bits of the float's 8-bit exponent; masking off the three copies of the sign between them
     * leaves a float whose value is the F16 value times 2^-112. Multiplying by 2^112 re-biases the exponent (15 to
     * 127) exactly, and maps F16 subnormals, which land as float subnormals, to the right normal floats. F16
     * infinities and NaNs (exponent all ones) come out as finite values of 2^16 or more, the only ones that large,
     * so those lanes get the float exponent forced to all ones: infinity stays infinity and a NaN keeps its sign and
     * payload (a signalling NaN stays signalling, where {@link Float#float16ToFloat} would quiet it).
     */
    static FloatVector f16(MemorySegment m, long byteOffset) {
        ShortVector s = ShortVector.fromMemorySegment(S, m, byteOffset, LE);
        IntVector widened = ((IntVector) s.convertShape(VectorOperators.S2I, I, 0))
                .lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXPONENT_SIGNIFICAND)
                .reinterpretAsFloats().mul(F16_EXPONENT_REBIAS).reinterpretAsInts();
        VectorMask<Integer> infOrNan = widened.and(0x7FFF_FFFF).compare(VectorOperators.GE, F16_OVERFLOW_BITS);
        return widened.lanewise(VectorOperators.OR, 0x7F80_0000, infOrNan).reinterpretAsFloats();
    }

    static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat(bits << 16);
    }

    /** One element of a float tensor of any supported dtype, as a float. */
    static float scalar(DType dtype, MemorySegment m, long index) {
        return switch (dtype) {
            case F32 -> m.get(FLOAT, index * 4);
            case BF16 -> bf16ToFloat(m.get(SHORT, index * 2));
            case F16 -> Float.float16ToFloat(m.get(SHORT, index * 2));
            default -> throw new IllegalArgumentException("unsupported dtype " + dtype);
        };
    }

    /** Converts {@code count} elements of {@code src} (any supported dtype) into F32 elements of {@code dst}. */
    static void widen(DType dtype, MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
        long vectorEnd = count - count % L;
        long i = 0;
        switch (dtype) {
            case F32 -> {
                MemorySegment.copy(src, srcIndex * 4, dst, dstIndex * 4, count * 4);
                return;
            }
            case BF16 -> {
                for (; i < vectorEnd; i += L) {
                    bf16(src, (srcIndex + i) * 2).intoMemorySegment(dst, (dstIndex + i) * 4, LE);
                }
            }
            case F16 -> {
                for (; i < vectorEnd; i += L) {
                    f16(src, (srcIndex + i) * 2).intoMemorySegment(dst, (dstIndex + i) * 4, LE);
                }
            }
            default -> throw new IllegalArgumentException("unsupported dtype " + dtype);
        }
        for (; i < count; i++) {
            dst.set(FLOAT, (dstIndex + i) * 4, scalar(dtype, src, srcIndex + i));
        }
    }
}
