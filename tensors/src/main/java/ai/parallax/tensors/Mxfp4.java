package ai.parallax.tensors;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * The MXFP4 format of the OCP Microscaling Formats (MX) specification v1.0 (section 5, "MXFP4"), as gpt-oss
 * checkpoints store it, and the layout of an MXFP4 weight matrix in memory.
 *
 * <p>Elements come in blocks of {@link #BLOCK} = 32 that share one scale. Each element is an E2M1 code of 4 bits
 * (sign, 2-bit exponent with bias 1, 1-bit mantissa; no infinities or NaN, section 5.3.3); the shared scale is an
 * E8M0 byte, an unsigned power-of-two exponent with bias 127 whose value 0xFF is NaN (section 5.4.1). An element
 * means {@code e2m1(code) · 2^(scale − 127)}.
 *
 * <p>A weight matrix {@code [rows, cols]} ({@code cols} a multiple of 32) is two U8 tensors, the checkpoint's
 * {@code *_blocks} and {@code *_scales} seen as matrices:
 * <ul>
 *   <li>{@code blocks} {@code [rows, cols / 2]}: byte j of a row holds element 2j in its low nibble and element
 *       2j + 1 in its high nibble;</li>
 *   <li>{@code scales} {@code [rows, cols / 32]}: one E8M0 byte per block of 32 elements of a row.</li>
 * </ul>
 * Rows are output features and blocks run along the input features, so a row is what one output's dot product
 * reads. Kernels decode the codes inside that dot product; there is never an expanded float copy.
 */
public final class Mxfp4 {
    /** Elements per shared scale. */
    public static final int BLOCK = 32;
    /** Bytes of packed codes per block: two codes per byte. */
    public static final int BLOCK_BYTES = BLOCK / 2;
    /** The E8M0 byte that stands for NaN rather than a power of two. */
    public static final int SCALE_NAN = 0xFF;
    /** The exponent bias of E8M0. */
    public static final int SCALE_BIAS = 127;

    /** The 16 E2M1 values by code, computed once from {@link #e2m1}. */
    private static final float[] E2M1_VALUES = new float[16];

    static {
        for (int code = 0; code < 16; code++) {
            E2M1_VALUES[code] = e2m1(code);
        }
    }

    private Mxfp4() {
    }

    /**
     * The value of a 4-bit E2M1 code, from its fields: bit 3 the sign, bits 2..1 the exponent (bias 1), bit 0 the
     * mantissa. Exponent 0 is subnormal ({@code 0.m · 2^0}), so the magnitudes are 0, 0.5, 1, 1.5, 2, 3, 4, 6.
     */
    public static float e2m1(int code) {
        if (code < 0 || code > 15) {
            throw new IllegalArgumentException("E2M1 code " + code + " is outside [0, 15]");
        }
        int exponent = (code >> 1) & 0b11;
        int mantissa = code & 1;
        float magnitude = exponent == 0 ? mantissa * 0.5f : Math.scalb(1f + mantissa * 0.5f, exponent - 1);
        return (code & 0b1000) != 0 ? -magnitude : magnitude;
    }

    /** The 16 E2M1 values indexed by code: the table kernels decode with. */
    public static float[] e2m1Table() {
        return Arrays.copyOf(E2M1_VALUES, 16);
    }

    /**
     * The value of an E8M0 scale byte ({@code 0..255}): {@code 2^(byte − 127)}, from 2^-127 (a float subnormal,
     * exact) to 2^127, and NaN for 0xFF.
     */
    public static float e8m0(int scale) {
        if (scale < 0 || scale > 255) {
            throw new IllegalArgumentException("E8M0 scale byte " + scale + " is outside [0, 255]");
        }
        return scale == SCALE_NAN ? Float.NaN : Math.scalb(1f, scale - SCALE_BIAS);
    }

    /** Element {@code (row, col)} of an MXFP4 matrix given as its {@code blocks} and {@code scales} tensors. */
    public static float element(Tensor blocks, Tensor scales, long row, long col) {
        long packed = blocks.rowLength();
        int b = blocks.data().get(ValueLayout.JAVA_BYTE, row * packed + col / 2) & 0xFF;
        int code = (col & 1) == 0 ? b & 0xF : b >>> 4;
        int s = scales.data().get(ValueLayout.JAVA_BYTE, row * scales.rowLength() + col / BLOCK) & 0xFF;
        return E2M1_VALUES[code] * e8m0(s);
    }

    /**
     * Checks that {@code blocks} and {@code scales} form an MXFP4 matrix {@code [rows, cols]} as the class comment
     * lays it out, and returns {@code cols}; {@code what} names the weight in the error.
     */
    public static long columns(Tensor blocks, Tensor scales, String what) {
        if (blocks.dtype() != DType.U8 || scales.dtype() != DType.U8) {
            throw new IllegalArgumentException(what + ": MXFP4 blocks '" + blocks.name() + "' and scales '"
                    + scales.name() + "' must be U8, got " + blocks.dtype() + " and " + scales.dtype());
        }
        if (blocks.rank() != 2 || scales.rank() != 2) {
            throw new IllegalArgumentException(what + ": MXFP4 blocks " + Arrays.toString(blocks.shape())
                    + " and scales " + Arrays.toString(scales.shape()) + " must be matrices");
        }
        long cols = blocks.rowLength() * 2;
        if (blocks.rowCount() != scales.rowCount() || cols != scales.rowLength() * BLOCK) {
            throw new IllegalArgumentException(what + ": MXFP4 blocks " + Arrays.toString(blocks.shape())
                    + " (two codes a byte) and scales " + Arrays.toString(scales.shape()) + " (one per " + BLOCK
                    + " codes) do not describe the same matrix");
        }
        return cols;
    }

    /** Reads one scale or code byte of a segment, unsigned. */
    public static int unsignedByte(MemorySegment m, long offset) {
        return m.get(ValueLayout.JAVA_BYTE, offset) & 0xFF;
    }
}
