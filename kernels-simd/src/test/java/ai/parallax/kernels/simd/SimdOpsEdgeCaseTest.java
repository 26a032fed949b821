package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.TestTensors.assertClose;
import static ai.parallax.kernels.simd.TestTensors.copyOf;
import static ai.parallax.kernels.simd.TestTensors.floats;
import static ai.parallax.kernels.simd.TestTensors.randomF32;
import static ai.parallax.kernels.simd.TestTensors.zeros;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class SimdOpsEdgeCaseTest {
    private SimdOps ops;
    private Arena arena;

    @BeforeEach
    void open() {
        ops = new SimdOps(2, 0);
        arena = Arena.ofShared();
    }

    @AfterEach
    void close() {
        arena.close();
        ops.close();
    }

    @Test
    void everyF16CodeWidensLikeFloatFloat16ToFloat() {
        MemorySegment codes = arena.allocate(2 * 65536, 64);
        for (int c = 0; c < 65536; c++) {
            codes.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), c, (short) c);
        }
        Tensor table = new Tensor("codes", DType.F16, new long[] {65536}, codes);
        Tensor widened = ops.allocate("widened", 1, 65536);
        ops.embedding(table.reshape(1, 65536), new int[] {0}, widened);

        float[] actual = floats(widened);
        for (int c = 0; c < 65536; c++) {
            float expected = Float.float16ToFloat((short) c);
            int bits = Float.floatToRawIntBits(actual[c]);
            if (Float.isNaN(expected)) {
                // A NaN keeps its sign and its 10-bit payload in the top of the float significand; unlike the JDK
                // (whose own NaN bits differ between its interpreted and intrinsic paths) it is not made quiet.
                int nan = (c & 0x8000) << 16 | 0x7F80_0000 | (c & 0x03FF) << 13;
                assertThat(bits).as("F16 NaN code 0x%04x", c).isEqualTo(nan);
            } else {
                assertThat(bits).as("F16 code 0x%04x", c).isEqualTo(Float.floatToRawIntBits(expected));
            }
        }
    }

    @Test
    void everyBf16CodeWidensToTheUpperHalfOfAFloat() {
        MemorySegment codes = arena.allocate(2 * 65536, 64);
        for (int c = 0; c < 65536; c++) {
            codes.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), c, (short) c);
        }
        Tensor table = new Tensor("codes", DType.BF16, new long[] {1, 65536}, codes);
        Tensor widened = ops.allocate("widened", 1, 65536);
        ops.embedding(table, new int[] {0}, widened);

        float[] actual = floats(widened);
        for (int c = 0; c < 65536; c++) {
            assertThat(Float.floatToRawIntBits(actual[c])).as("BF16 code 0x%04x", c).isEqualTo(c << 16);
        }
    }

    @Test
    void f16MatmulKernelsWidenEveryFiniteCodeExactly() {
        // Weight row r holds the codes 32r .. 32r+31; multiplying by an identity (and by its columns one at a time)
        // selects each weight alone, so the outputs are the widened codes themselves, through both kernels.
        int k = 32;
        int n = 65536 / k;
        MemorySegment codes = arena.allocate(2L * n * k, 64);
        for (int c = 0; c < 65536; c++) {
            codes.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, c, (short) c);
        }
        Tensor weight = new Tensor("codes", DType.F16, new long[] {n, k}, codes);
        float[] identity = new float[k * k];
        for (int i = 0; i < k; i++) {
            identity[i * k + i] = 1f;
        }
        Tensor x = TestTensors.of(arena, "identity", identity, k, k);
        Tensor batched = ops.allocate("batched", k, n);
        ops.matmul(x, weight, null, batched);
        float[] tiles = floats(batched);
        Tensor single = ops.allocate("single", 1, n);
        for (int column = 0; column < k; column++) {
            ops.matmul(x.rows(column, 1), weight, null, single);
            float[] rows = floats(single);
            for (int r = 0; r < n; r++) {
                int code = r * k + column;
                if ((r * k & 0x7C00) == 0x7C00) {
                    continue; // rows holding infinities or NaNs: 0 x inf makes every sum in them NaN
                }
                float expected = Float.float16ToFloat((short) code);
                assertThat(rows[r]).as("T=1 F16 code 0x%04x", code).isEqualTo(expected);
                assertThat(tiles[column * n + r]).as("T=32 F16 code 0x%04x", code).isEqualTo(expected);
            }
        }
    }

    @Test
    void f16MatmulKernelsKeepInfinityAndNan() {
        int k = 37;
        short[] specials = {0x7C00, (short) 0xFC00, 0x7E00, 0x7C01, (short) 0xFFFF};
        MemorySegment w = arena.allocate(2L * specials.length * k, 64);
        for (int r = 0; r < specials.length; r++) {
            for (int i = 0; i < k; i++) {
                w.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, (long) r * k + i, i == 5 ? specials[r] : 0x3C00);
            }
        }
        Tensor weight = new Tensor("w", DType.F16, new long[] {specials.length, k}, w);
        float[] ones = new float[4 * k];
        java.util.Arrays.fill(ones, 1f);
        Tensor x = TestTensors.of(arena, "x", ones, 4, k);
        Tensor out = ops.allocate("out", 4, specials.length);
        ops.matmul(x, weight, null, out);
        float[] sums = floats(out);
        for (int t = 0; t < 4; t++) {
            assertThat(sums[t * specials.length]).isEqualTo(Float.POSITIVE_INFINITY);
            assertThat(sums[t * specials.length + 1]).isEqualTo(Float.NEGATIVE_INFINITY);
            for (int r = 2; r < specials.length; r++) {
                assertThat(sums[t * specials.length + r]).isNaN();
            }
        }
        Tensor one = ops.allocate("one", 1, specials.length);
        ops.matmul(x.rows(0, 1), weight, null, one);
        assertThat(floats(one)).containsExactly(java.util.Arrays.copyOf(sums, specials.length));
    }

    @Test
    void f16MatmulHandlesSubnormalWeights() {
        // Weights 2^-24 (smallest F16 subnormal) and 0x03FF (largest subnormal) across a row longer than a vector.
        int k = 37;
        MemorySegment w = arena.allocate(2L * k, 64);
        for (int i = 0; i < k; i++) {
            w.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, (short) (i % 2 == 0 ? 0x0001 : 0x83FF));
        }
        Tensor weight = new Tensor("w", DType.F16, new long[] {1, k}, w);
        float[] ones = new float[k];
        java.util.Arrays.fill(ones, 1f);
        Tensor x = TestTensors.of(arena, "x", ones, 1, k);
        Tensor out = ops.allocate("out", 1, 1);
        ops.matmul(x, weight, null, out);

        double expected = 19 * 0x1p-24 - 18 * Float.float16ToFloat((short) 0x03FF);
        assertThat((double) floats(out)[0]).isCloseTo(expected, org.assertj.core.data.Offset.offset(1e-12));
    }

    @Test
    void argmaxReturnsTheFirstOfEqualMaxima() {
        float[] row = new float[100];
        java.util.Arrays.fill(row, -1f);
        row[37] = 5f;
        row[38] = 5f;
        row[99] = 5f;
        Tensor x = TestTensors.of(arena, "logits", row, 2, 50);
        assertThat(ops.argmax(x, 0)).isEqualTo(37);
        assertThat(ops.argmax(x, 1)).isEqualTo(49);
        Tensor allEqual = TestTensors.of(arena, "flat", new float[33], 1, 33);
        assertThat(ops.argmax(allEqual, 0)).isZero();
    }

    @Test
    void softmaxOfLargeValuesDoesNotOverflow() {
        float[] row = {1e4f, 1e4f - 1, 3e38f, 3e38f, -3e38f, 88.8f, 1000f, 1000f, 1000f, 1000f, 1000f, 1000f,
                1000f, 1000f, 1000f, 1000f, 1000f, 1000f, 1000f};
        Tensor x = TestTensors.of(arena, "x", row, 1, row.length);
        ops.softmax(x);
        float[] p = floats(x);
        assertThat(p[2]).isEqualTo(0.5f);
        assertThat(p[3]).isEqualTo(0.5f);
        for (float v : p) {
            assertThat(v).isBetween(0f, 1f);
        }

        float[] big = new float[21];
        for (int i = 0; i < big.length; i++) {
            big[i] = 500f + i;
        }
        Tensor y = TestTensors.of(arena, "y", big, 1, big.length);
        ops.softmax(y);
        double sum = 0;
        for (float v : floats(y)) {
            sum += v;
        }
        assertThat(sum).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5));
        assertThat(floats(y)[20]).isCloseTo((float) (1 / (1 / (1 - Math.exp(-1)) - Math.exp(-21) / (1 - Math.exp(-1)))),
                org.assertj.core.data.Offset.offset(1e-5f));
    }

    @Test
    void decodeAfterPrefillEqualsTheMatchingRowsOfAFullPrefill() {
        int heads = 8;
        int kvHeads = 2;
        int headDim = 24;
        int total = 13;
        int prefill = 9;
        Random random = new Random(42);
        Tensor q = randomF32(arena, "q", random, total, heads * headDim);
        Tensor keys = randomF32(arena, "keys", random, 16, kvHeads * headDim);
        Tensor values = randomF32(arena, "values", random, 16, kvHeads * headDim);
        float scale = 0.2f;
        Tensor full = zeros(arena, "full", total, heads * headDim);
        ops.attention(q, keys, values, 0, heads, kvHeads, headDim, scale, full);

        float[] fullRows = floats(full);
        Tensor firstPart = zeros(arena, "prefill", prefill, heads * headDim);
        ops.attention(q.rows(0, prefill), keys, values, 0, heads, kvHeads, headDim, scale, firstPart);
        assertClose(java.util.Arrays.copyOfRange(fullRows, 0, prefill * heads * headDim), floats(firstPart), 1e-6,
                "prefill rows");
        for (int t = prefill; t < total; t++) {
            Tensor step = zeros(arena, "step", 1, heads * headDim);
            ops.attention(q.rows(t, 1), keys, values, t, heads, kvHeads, headDim, scale, step);
            assertClose(java.util.Arrays.copyOfRange(fullRows, t * heads * headDim, (t + 1) * heads * headDim),
                    floats(step), 1e-6, "decode step at position " + t);
        }
    }

    @Test
    void rmsNormInPlaceEqualsOutOfPlace() {
        Random random = new Random(5);
        Tensor x = randomF32(arena, "x", random, 3, 77);
        Tensor weight = TestTensors.random(arena, "w", DType.BF16, random, 77);
        Tensor separate = zeros(arena, "out", 3, 77);
        ops.rmsNorm(x, weight, 1e-5f, separate);
        Tensor inPlace = copyOf(arena, x);
        ops.rmsNorm(inPlace, weight, 1e-5f, inPlace);
        assertThat(floats(inPlace)).containsExactly(floats(separate));
    }

    @Test
    void perHeadNormTreatsEachHeadAsARow() {
        Random random = new Random(6);
        Tensor q = randomF32(arena, "q", random, 2, 4 * 16);
        Tensor weight = randomF32(arena, "qnorm", random, 16);
        Tensor out = zeros(arena, "out", 2, 4 * 16);
        ops.rmsNorm(q, weight, 1e-6f, out);
        float[] in = floats(q);
        float[] w = floats(weight);
        float[] actual = floats(out);
        for (int head = 0; head < 8; head++) {
            double ss = 0;
            for (int i = 0; i < 16; i++) {
                ss += in[head * 16 + i] * in[head * 16 + i];
            }
            double inv = 1 / Math.sqrt(ss / 16 + 1e-6);
            for (int i = 0; i < 16; i++) {
                assertThat((double) actual[head * 16 + i]).isCloseTo(in[head * 16 + i] * inv * w[i],
                        org.assertj.core.data.Offset.offset(1e-5));
            }
        }
    }

    @Test
    void badShapesAreRefusedWithTheTensorNames() {
        Tensor x = ops.allocate("hidden", 2, 64);
        Tensor w = ops.allocate("q_proj.weight", DType.BF16, 32, 48);
        Tensor out = ops.allocate("q", 2, 32);
        assertThatThrownBy(() -> ops.matmul(x, w, null, out))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("hidden").hasMessageContaining("q_proj.weight").hasMessageContaining("48");
        Tensor ids = ops.allocate("table", DType.I32, 4, 4);
        assertThatThrownBy(() -> ops.embedding(ids, new int[] {0}, out))
                .hasMessageContaining("table").hasMessageContaining("I32");
        Tensor table = ops.allocate("embed", 10, 32);
        assertThatThrownBy(() -> ops.embedding(table, new int[] {10}, out))
                .isInstanceOf(IndexOutOfBoundsException.class).hasMessageContaining("token id 10");
        assertThatThrownBy(() -> ops.attention(out, x, x, 0, 3, 2, 8, 1f, out))
                .hasMessageContaining("3 query heads");
    }

    @Test
    void allocateGivesZeroedAlignedMemory() {
        Tensor t = ops.allocate("t", DType.BF16, 3, 5);
        assertThat(t.data().address() % 64).isZero();
        assertThat(t.byteSize()).isEqualTo(30);
        for (long i = 0; i < t.byteSize(); i++) {
            assertThat(t.data().get(ValueLayout.JAVA_BYTE, i)).isZero();
        }
    }
}
