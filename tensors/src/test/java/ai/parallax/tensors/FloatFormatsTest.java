package ai.parallax.tensors;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Checks every code of each narrow format against its value computed from the format's definition
 * (sign · 2^(exponent − bias) · (1 + mantissa / 2^mbits), subnormals and specials as specified), in double.
 */
class FloatFormatsTest {

    /** Value of a finite binary floating-point code from its sign, exponent and mantissa fields. */
    private static double decode(int code, int exponentBits, int mantissaBits, int bias) {
        int sign = (code >>> (exponentBits + mantissaBits)) & 1;
        int exponent = (code >>> mantissaBits) & ((1 << exponentBits) - 1);
        int mantissa = code & ((1 << mantissaBits) - 1);
        double magnitude = exponent == 0
                ? Math.pow(2, 1 - bias) * mantissa / (1 << mantissaBits)
                : Math.pow(2, exponent - bias) * (1 + (double) mantissa / (1 << mantissaBits));
        return sign == 1 ? -magnitude : magnitude;
    }

    private static void assertSameFloat(float actual, double expected, int code) {
        if (Double.isNaN(expected)) {
            assertThat(actual).as("code 0x%x", code).isNaN();
        } else {
            // floatToRawIntBits also tells +0 from -0.
            assertThat(Float.floatToRawIntBits(actual)).as("code 0x%x: %s vs %s", code, actual, expected)
                    .isEqualTo(Float.floatToRawIntBits((float) expected));
            assertThat((double) actual).as("code 0x%x is exactly representable", code).isEqualTo(expected);
        }
    }

    @Test
    void everyE4M3CodeDecodesToItsDefinedValue() {
        for (int code = 0; code < 256; code++) {
            boolean nan = (code & 0x7F) == 0x7F; // E4M3FN: only S.1111.111 is NaN, no infinities
            double expected = nan ? Double.NaN : decode(code, 4, 3, 7);
            assertSameFloat(FloatFormats.f8e4m3ToFloat((byte) code), expected, code);
        }
        assertThat(FloatFormats.f8e4m3ToFloat((byte) 0x7E)).isEqualTo(448f);
        assertThat(FloatFormats.f8e4m3ToFloat((byte) 0x78)).as("exponent 15 is a normal binade").isEqualTo(256f);
        assertThat(FloatFormats.f8e4m3ToFloat((byte) 0x01)).as("smallest subnormal").isEqualTo(0x1p-9f);
        assertThat(FloatFormats.f8e4m3ToFloat((byte) 0xB8)).isEqualTo(-1f);
    }

    @Test
    void everyE5M2CodeDecodesToItsDefinedValue() {
        for (int code = 0; code < 256; code++) {
            int exponent = (code >>> 2) & 0x1F;
            int mantissa = code & 3;
            double expected;
            if (exponent == 31) {
                expected = mantissa != 0 ? Double.NaN
                        : (code & 0x80) != 0 ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
            } else {
                expected = decode(code, 5, 2, 15);
            }
            assertSameFloat(FloatFormats.f8e5m2ToFloat((byte) code), expected, code);
        }
        assertThat(FloatFormats.f8e5m2ToFloat((byte) 0x7B)).isEqualTo(57344f);
    }

    @Test
    void everyBf16CodeDecodesToItsDefinedValueAndRoundTrips() {
        for (int code = 0; code < 65536; code++) {
            int exponent = (code >>> 7) & 0xFF;
            int mantissa = code & 0x7F;
            double expected;
            if (exponent == 0xFF) {
                expected = mantissa != 0 ? Double.NaN
                        : (code & 0x8000) != 0 ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
            } else {
                expected = decode(code, 8, 7, 127);
            }
            float value = FloatFormats.bf16ToFloat((short) code);
            assertSameFloat(value, expected, code);
            short back = FloatFormats.floatToBf16(value);
            if (Double.isNaN(expected)) {
                assertThat(FloatFormats.bf16ToFloat(back)).as("NaN code 0x%x stays NaN", code).isNaN();
            } else {
                assertThat(back & 0xFFFF).as("round trip of 0x%x", code).isEqualTo(code);
            }
        }
    }

    @Test
    void floatToBf16RoundsToNearestTiesToEven() {
        // Between each pair of neighbouring finite bf16 codes c and c+1 (same sign), the float halfway between
        // them rounds to whichever is even; a float just below or above the midpoint goes to the nearer one.
        for (int code = 0; code < 0x7F7F; code++) {
            for (int sign : new int[] {0, 0x8000}) {
                int c = code | sign;
                int low = c << 16;
                float below = Float.intBitsToFloat(low + 0x7FFF);
                float half = Float.intBitsToFloat(low + 0x8000);
                float above = Float.intBitsToFloat(low + 0x8001);
                assertThat(FloatFormats.floatToBf16(below) & 0xFFFF).isEqualTo(c);
                assertThat(FloatFormats.floatToBf16(above) & 0xFFFF).isEqualTo(c + 1);
                assertThat(FloatFormats.floatToBf16(half) & 0xFFFF).as("tie between 0x%x and 0x%x", c, c + 1)
                        .isEqualTo((c & 1) == 0 ? c : c + 1);
            }
        }
        // Halfway between the largest finite bf16 (0x7F7F) and the next, non-existent, step rounds to infinity.
        assertThat(FloatFormats.floatToBf16(Float.intBitsToFloat(0x7F7F8000))).isEqualTo((short) 0x7F80);
        assertThat(FloatFormats.floatToBf16(Float.MAX_VALUE)).isEqualTo((short) 0x7F80);
        assertThat(FloatFormats.floatToBf16(Float.NEGATIVE_INFINITY)).isEqualTo((short) 0xFF80);
    }

    @Test
    void nanStaysNanEvenWhenItsPayloadIsOnlyInTheDroppedBits() {
        float nanWithLowPayload = Float.intBitsToFloat(0x7F800001);
        assertThat(nanWithLowPayload).isNaN();
        assertThat(FloatFormats.bf16ToFloat(FloatFormats.floatToBf16(nanWithLowPayload))).isNaN();
        assertThat(FloatFormats.bf16ToFloat(FloatFormats.floatToBf16(Float.intBitsToFloat(0xFF800001)))).isNaN();
    }

    @Test
    void everyF16CodeDecodesToItsDefinedValueAndRoundTrips() {
        for (int code = 0; code < 65536; code++) {
            int exponent = (code >>> 10) & 0x1F;
            int mantissa = code & 0x3FF;
            double expected;
            if (exponent == 31) {
                expected = mantissa != 0 ? Double.NaN
                        : (code & 0x8000) != 0 ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
            } else {
                expected = decode(code, 5, 10, 15);
            }
            float value = FloatFormats.f16ToFloat((short) code);
            assertSameFloat(value, expected, code);
            short back = FloatFormats.floatToF16(value);
            if (Double.isNaN(expected)) {
                assertThat(FloatFormats.f16ToFloat(back)).isNaN();
            } else {
                assertThat(back & 0xFFFF).as("round trip of 0x%x", code).isEqualTo(code);
            }
        }
        assertThat(FloatFormats.floatToF16(65520f)).as("half an ulp above 65504 overflows").isEqualTo((short) 0x7C00);
    }

    @Test
    void readFloatReadsLittleEndianElementsOfEveryFloatingDtype() {
        try (Arena arena = Arena.ofConfined()) {
            // Bytes laid out by hand, little-endian, so that the reader's byte order is tested too.
            assertThat(readAll(arena, DType.F32, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x20, 0xC1))
                    .containsExactly(1f, -10f);
            assertThat(readAll(arena, DType.BF16, 0x80, 0x3F, 0x20, 0xC1)).containsExactly(1f, -10f);
            assertThat(readAll(arena, DType.F16, 0x00, 0x3C, 0x00, 0xC9)).containsExactly(1f, -10f);
            assertThat(readAll(arena, DType.F8_E4M3, 0x38, 0xD2, 0x7E)).containsExactly(1f, -10f, 448f);
            assertThat(readAll(arena, DType.F8_E5M2, 0x3C, 0xC9)).containsExactly(1f, -10f);
        }
    }

    @Test
    void readFloatRejectsIntegerTensorsAndOutOfRangeIndices() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor ints = new Tensor("ids", DType.I32, new long[] {2}, arena.allocate(8));
            assertThatThrownBy(() -> FloatFormats.readFloat(ints, 0)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("tensor 'ids' holds I32, not a floating-point type");
            Tensor floats = new Tensor("x", DType.F32, new long[] {2}, arena.allocate(8));
            assertThatThrownBy(() -> FloatFormats.readFloat(floats, 2)).isInstanceOf(IndexOutOfBoundsException.class)
                    .hasMessage("element 2 of tensor 'x' with 2 elements");
        }
    }

    private static float[] readAll(Arena arena, DType dtype, int... bytes) {
        MemorySegment data = arena.allocate(bytes.length);
        for (int i = 0; i < bytes.length; i++) {
            data.set(ValueLayout.JAVA_BYTE, i, (byte) bytes[i]);
        }
        Tensor t = new Tensor("t", dtype, new long[] {bytes.length / dtype.byteSize()}, data);
        float[] out = new float[(int) t.elementCount()];
        for (int i = 0; i < out.length; i++) {
            out[i] = FloatFormats.readFloat(t, i);
        }
        return out;
    }
}
