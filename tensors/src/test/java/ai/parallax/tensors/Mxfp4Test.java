package ai.parallax.tensors;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * MXFP4 against the OCP Microscaling Formats specification v1.0: every E2M1 code from its fields (section 5.3.3:
 * sign, 2 exponent bits with bias 1, 1 mantissa bit, exponent 0 subnormal), every E8M0 scale byte (section 5.4.1:
 * 2^(byte − 127), 0xFF NaN), and the nibble order and block scale of a packed matrix.
 */
class Mxfp4Test {

    /** The spec's definition, in double: (−1)^s · 2^(e − 1) · (1 + m/2), or (−1)^s · m/2 when e = 0. */
    private static double e2m1Definition(int code) {
        int s = code >> 3;
        int e = (code >> 1) & 3;
        int m = code & 1;
        double magnitude = e == 0 ? m / 2.0 : Math.pow(2, e - 1) * (1 + m / 2.0);
        return s == 1 ? -magnitude : magnitude;
    }

    @Test
    void everyE2M1CodeDecodesToItsDefinedValue() {
        for (int code = 0; code < 16; code++) {
            assertThat((double) Mxfp4.e2m1(code)).as("E2M1 code %d", code).isEqualTo(e2m1Definition(code));
            assertThat(Mxfp4.e2m1Table()[code]).isEqualTo(Mxfp4.e2m1(code));
        }
        // The spec's table of representable magnitudes, as written there.
        float[] positive = {0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f, 6f};
        for (int code = 0; code < 8; code++) {
            assertThat(Mxfp4.e2m1(code)).isEqualTo(positive[code]);
            assertThat(Mxfp4.e2m1(code | 8)).isEqualTo(-positive[code]);
        }
        assertThat(Float.floatToRawIntBits(Mxfp4.e2m1(8))).as("code 8 is negative zero").isEqualTo(0x8000_0000);
    }

    @Test
    void everyE8M0ScaleIsAPowerOfTwoAndFfIsNaN() {
        for (int b = 0; b < 255; b++) {
            assertThat((double) Mxfp4.e8m0(b)).as("E8M0 byte %d", b).isEqualTo(Math.pow(2, b - 127));
        }
        assertThat(Mxfp4.e8m0(0)).as("smallest scale, a float subnormal").isEqualTo(0x1p-127f);
        assertThat(Mxfp4.e8m0(127)).isEqualTo(1f);
        assertThat(Mxfp4.e8m0(254)).as("largest scale").isEqualTo(0x1p127f);
        assertThat(Mxfp4.e8m0(255)).isNaN();
    }

    @Test
    void codesOutsideTheirRangeAreRefused() {
        assertThatThrownBy(() -> Mxfp4.e2m1(16)).hasMessageContaining("E2M1 code 16");
        assertThatThrownBy(() -> Mxfp4.e8m0(-1)).hasMessageContaining("E8M0 scale byte -1");
    }

    @Test
    void elementsReadLowNibbleFirstAndTakeTheirBlocksScale() {
        try (Arena arena = Arena.ofConfined()) {
            // One row of 64 elements: two blocks of 32, so 32 packed bytes and two scales.
            MemorySegment packed = arena.allocate(32);
            for (int j = 0; j < 32; j++) {
                int even = j % 16;
                int odd = 15 - j % 16;
                packed.set(ValueLayout.JAVA_BYTE, j, (byte) (even | odd << 4));
            }
            MemorySegment scaleBytes = arena.allocate(2);
            scaleBytes.set(ValueLayout.JAVA_BYTE, 0, (byte) 127);  // ×1
            scaleBytes.set(ValueLayout.JAVA_BYTE, 1, (byte) 130);  // ×8
            Tensor blocks = new Tensor("w_blocks", DType.U8, new long[] {1, 32}, packed);
            Tensor scales = new Tensor("w_scales", DType.U8, new long[] {1, 2}, scaleBytes);
            assertThat(Mxfp4.columns(blocks, scales, "test")).isEqualTo(64);
            for (int c = 0; c < 64; c++) {
                int j = c / 2;
                int code = c % 2 == 0 ? j % 16 : 15 - j % 16;
                double scale = c < 32 ? 1 : 8;
                assertThat((double) Mxfp4.element(blocks, scales, 0, c)).as("element %d", c)
                        .isEqualTo(e2m1Definition(code) * scale);
            }
        }
    }

    @Test
    void mismatchedBlocksAndScalesAreRefused() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor blocks = new Tensor("w_blocks", DType.U8, new long[] {2, 32}, arena.allocate(64));
            Tensor scales = new Tensor("w_scales", DType.U8, new long[] {2, 3}, arena.allocate(6));
            assertThatThrownBy(() -> Mxfp4.columns(blocks, scales, "down_proj"))
                    .hasMessageContaining("down_proj").hasMessageContaining("do not describe the same matrix");
        }
    }
}
