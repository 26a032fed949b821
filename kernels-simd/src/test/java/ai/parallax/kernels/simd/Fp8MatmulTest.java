package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.TestTensors.assertClose;
import static ai.parallax.kernels.simd.TestTensors.floats;
import static ai.parallax.kernels.simd.TestTensors.random;
import static ai.parallax.kernels.simd.TestTensors.randomF32;
import static ai.parallax.kernels.simd.TestTensors.zeros;
import static org.assertj.core.api.Assertions.assertThat;

import ai.parallax.tensors.BlockScales;
import ai.parallax.tensors.DType;
import ai.parallax.tensors.FloatFormats;
import ai.parallax.tensors.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The fused FP8 matmul against {@link ReferenceOps}, which dequantises element by element with
 * {@link FloatFormats} and the block scale: odd sizes, partial edge blocks in both directions, both FP8 formats,
 * F32 and BF16 scales, one and two threads.
 */
class Fp8MatmulTest {
    private static SimdOps oneThread;
    private static SimdOps twoThreads;
    private static ReferenceOps reference;
    private Arena arena = Arena.ofShared();

    @BeforeAll
    static void startBackends() {
        oneThread = new SimdOps(1);
        twoThreads = new SimdOps(2, 0);
        reference = new ReferenceOps();
    }

    @AfterAll
    static void stopBackends() {
        oneThread.close();
        twoThreads.close();
        reference.close();
    }

    @AfterEach
    void freeTensors() {
        arena.close();
        arena = Arena.ofShared();
    }

    /** Every one of the 256 codes, in vector registers, against the scalar definition (NaN codes included). */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F8_E4M3", "F8_E5M2"})
    void vectorDecodingMatchesTheFormatDefinitionForEveryCode(DType dtype) {
        MemorySegment codes = arena.allocate(256 + 64);
        for (int c = 0; c < 256; c++) {
            codes.set(ValueLayout.JAVA_BYTE, c, (byte) c);
        }
        Fp8MatmulKernels.Format format = Fp8MatmulKernels.Format.of(dtype);
        int lanes = SimdOps.vectorLanes();
        for (int start = 0; start < 256; start += lanes) {
            FloatVector v = Fp8MatmulKernels.decode(codes, start, format, 1f);
            for (int lane = 0; lane < lanes; lane++) {
                byte code = (byte) (start + lane);
                float expected = dtype == DType.F8_E4M3 ? FloatFormats.f8e4m3ToFloat(code)
                        : FloatFormats.f8e5m2ToFloat(code);
                float actual = v.lane(lane);
                if (Float.isNaN(expected)) {
                    assertThat(actual).as("code 0x%02x", code & 0xFF).isNaN();
                } else {
                    assertThat(Float.floatToRawIntBits(actual)).as("code 0x%02x = %s, got %s", code & 0xFF,
                            expected, actual).isEqualTo(Float.floatToRawIntBits(expected));
                }
                assertThat(format.table[code & 0xFF]).isEqualTo(expected, org.assertj.core.data.Offset.offset(0f));
            }
        }
    }

    static Stream<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        // n, k, block rows, block cols: whole blocks, partial edge blocks, blocks narrower than a vector,
        // k not a multiple of the vector length, a single block covering everything.
        int[][] shapes = {{256, 256, 128, 128}, {320, 256, 128, 128}, {256, 320, 128, 128}, {17, 63, 8, 16},
                {65, 130, 32, 32}, {7, 1000, 3, 5}, {1, 1, 128, 128}, {33, 97, 128, 128}, {12, 48, 4, 24}};
        int i = 0;
        for (DType dtype : new DType[] {DType.F8_E4M3, DType.F8_E5M2}) {
            for (int[] s : shapes) {
                for (int tokens : new int[] {1, 3, 5, 16}) {
                    cases.add(Arguments.of(dtype, tokens, s[0], s[1], s[2], s[3], i % 2 == 0 ? DType.F32 : DType.BF16,
                            1 + i % 2, i % 3 == 0));
                    i++;
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} [{2}x{3}] blocks [{4}x{5}] {6} scales, T={1}, {7} threads, bias={8}")
    @MethodSource("cases")
    void blockScaledMatmulMatchesDequantisedReference(DType dtype, int tokens, int n, int k, int blockRows,
                                                     int blockCols, DType scaleType, int threads, boolean withBias) {
        Random random = new Random(n * 1_000_003L + k * 31L + tokens + blockCols);
        Tensor x = randomF32(arena, "x", random, tokens, k);
        Tensor w = fp8(dtype, random, n, k);
        long[] scaleShape = BlockScales.expectedShape(n, k, blockRows, blockCols);
        Tensor scales = random(arena, "w_scale_inv", scaleType, random, scaleShape);
        Tensor scaled = w.withBlockScales(new BlockScales(scales, blockRows, blockCols));
        Tensor bias = withBias ? random(arena, "bias", DType.BF16, random, n) : null;
        Tensor expected = zeros(arena, "expected", tokens, n);
        Tensor actual = zeros(arena, "actual", tokens, n);

        reference.matmul(x, scaled, bias, expected);
        (threads == 1 ? oneThread : twoThreads).matmul(x, scaled, bias, actual);

        assertClose(floats(expected), floats(actual), 1e-5, "fp8 matmul");
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F8_E4M3", "F8_E5M2"})
    void unscaledFp8WeightReadsAsItsValues(DType dtype) {
        Random random = new Random(7);
        Tensor x = randomF32(arena, "x", random, 3, 77);
        Tensor w = fp8(dtype, random, 9, 77);
        Tensor expected = zeros(arena, "expected", 3, 9);
        Tensor actual = zeros(arena, "actual", 3, 9);
        reference.matmul(x, w, null, expected);
        oneThread.matmul(x, w, null, actual);
        assertClose(floats(expected), floats(actual), 1e-5, "unscaled fp8 matmul");
    }

    /** Random finite FP8 codes (NaN and infinity codes excluded: they would poison every sum). */
    private Tensor fp8(DType dtype, Random random, long n, long k) {
        MemorySegment m = arena.allocate(n * k, 64);
        for (long i = 0; i < n * k; i++) {
            byte code;
            do {
                code = (byte) random.nextInt(256);
            } while (!Float.isFinite(dtype == DType.F8_E4M3 ? FloatFormats.f8e4m3ToFloat(code)
                    : FloatFormats.f8e5m2ToFloat(code)));
            m.set(ValueLayout.JAVA_BYTE, i, code);
        }
        return new Tensor("w", dtype, new long[] {n, k}, m);
    }
}
