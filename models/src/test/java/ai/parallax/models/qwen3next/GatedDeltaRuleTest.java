package ai.parallax.models.qwen3next;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The chunked form (prefill) and the recurrent form (decode) of the gated delta rule compute the same outputs and
 * the same final state, and both match a float64 transcription of the rule's definition.
 */
class GatedDeltaRuleTest {
    private static final int KEY_DIM = 16;
    private static final int VALUE_DIM = 24;

    /** Token counts below, at and across chunk boundaries (64), from a non-zero starting state. */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 63, 64, 65, 150})
    void chunkedAndRecurrentFormsAgree(int n) {
        Inputs in = new Inputs(n, 7 + n);
        float[] recurrentState = in.state.clone();
        float[] chunkedState = in.state.clone();
        float[] recurrentOut = new float[n * VALUE_DIM];
        float[] chunkedOut = new float[n * VALUE_DIM];
        // Both forms run at an offset into a larger state array, as they do on a slot of RecurrentStateSlots.
        float[] recurrentSlots = embed(recurrentState);
        float[] chunkedSlots = embed(chunkedState);

        new GatedDeltaRule(KEY_DIM, VALUE_DIM).recurrent(n, in.q, in.k, in.v, in.g, in.beta, recurrentSlots,
                OFFSET, recurrentOut);
        new GatedDeltaRule(KEY_DIM, VALUE_DIM).chunked(n, in.q, in.k, in.v, in.g, in.beta, chunkedSlots, OFFSET,
                chunkedOut);

        double[] expectedState = toDouble(in.state);
        double[] expectedOut = definition(n, in, expectedState);
        assertClose(recurrentOut, expectedOut, "recurrent output");
        assertClose(chunkedOut, expectedOut, "chunked output");
        assertClose(java.util.Arrays.copyOfRange(recurrentSlots, OFFSET, OFFSET + in.state.length), expectedState,
                "recurrent final state");
        assertClose(java.util.Arrays.copyOfRange(chunkedSlots, OFFSET, OFFSET + in.state.length), expectedState,
                "chunked final state");
        assertThat(chunkedSlots[OFFSET - 1]).as("state before the slot is untouched").isEqualTo(-5f);
        assertThat(chunkedSlots[OFFSET + in.state.length]).as("state after the slot is untouched").isEqualTo(-5f);
    }

    /** A prompt in chunks, then decoding token by token, equals one recurrent pass over everything. */
    @ParameterizedTest
    @ValueSource(ints = {5, 70})
    void decodeContinuesWherePrefillStopped(int prompt) {
        int n = prompt + 3;
        Inputs in = new Inputs(n, 99);
        float[] oneState = in.state.clone();
        float[] oneOut = new float[n * VALUE_DIM];
        GatedDeltaRule rule = new GatedDeltaRule(KEY_DIM, VALUE_DIM);
        rule.recurrent(n, in.q, in.k, in.v, in.g, in.beta, oneState, 0, oneOut);

        float[] state = in.state.clone();
        float[] prefillOut = new float[prompt * VALUE_DIM];
        rule.chunked(prompt, in.q, in.k, in.v, in.g, in.beta, state, 0, prefillOut);
        float[] stepOut = new float[VALUE_DIM];
        for (int t = prompt; t < n; t++) {
            rule.recurrent(1, slice(in.q, t, KEY_DIM), slice(in.k, t, KEY_DIM), slice(in.v, t, VALUE_DIM),
                    new float[] {in.g[t]}, new float[] {in.beta[t]}, state, 0, stepOut);
            for (int j = 0; j < VALUE_DIM; j++) {
                assertThat(stepOut[j]).as("output %d of decode step %d", j, t)
                        .isCloseTo(oneOut[t * VALUE_DIM + j], org.assertj.core.api.Assertions.within(1e-4f));
            }
        }
    }

    private static final int OFFSET = 3;

    private static float[] embed(float[] state) {
        float[] slots = new float[state.length + 2 * OFFSET];
        java.util.Arrays.fill(slots, -5f);
        System.arraycopy(state, 0, slots, OFFSET, state.length);
        return slots;
    }

    /** S ← S·exp(g); u = beta·(v − Sᵀk); S ← S + k uᵀ; o = Sᵀq, in float64, straight from the definition. */
    private static double[] definition(int n, Inputs in, double[] s) {
        double[] out = new double[n * VALUE_DIM];
        for (int t = 0; t < n; t++) {
            double decay = Math.exp(in.g[t]);
            for (int i = 0; i < s.length; i++) {
                s[i] *= decay;
            }
            double[] u = new double[VALUE_DIM];
            for (int j = 0; j < VALUE_DIM; j++) {
                double sk = 0;
                for (int i = 0; i < KEY_DIM; i++) {
                    sk += s[i * VALUE_DIM + j] * in.k[t * KEY_DIM + i];
                }
                u[j] = in.beta[t] * (in.v[t * VALUE_DIM + j] - sk);
            }
            for (int i = 0; i < KEY_DIM; i++) {
                for (int j = 0; j < VALUE_DIM; j++) {
                    s[i * VALUE_DIM + j] += in.k[t * KEY_DIM + i] * u[j];
                }
            }
            for (int j = 0; j < VALUE_DIM; j++) {
                double o = 0;
                for (int i = 0; i < KEY_DIM; i++) {
                    o += s[i * VALUE_DIM + j] * in.q[t * KEY_DIM + i];
                }
                out[t * VALUE_DIM + j] = o;
            }
        }
        return out;
    }

    private static void assertClose(float[] actual, double[] expected, String what) {
        assertThat(actual).hasSize(expected.length);
        for (int i = 0; i < actual.length; i++) {
            double tolerance = 1e-4 * (1 + Math.abs(expected[i]));
            if (Math.abs(actual[i] - expected[i]) > tolerance) {
                throw new AssertionError(what + " element " + i + " is " + actual[i] + ", expected " + expected[i]);
            }
        }
    }

    private static double[] toDouble(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            d[i] = x[i];
        }
        return d;
    }

    private static float[] slice(float[] x, int row, int width) {
        return java.util.Arrays.copyOfRange(x, row * width, (row + 1) * width);
    }

    /** Inputs shaped as the model feeds them: unit-norm keys, q scaled by 1/√d_k, g ≤ 0, beta in (0, 1). */
    private static final class Inputs {
        final float[] q;
        final float[] k;
        final float[] v;
        final float[] g;
        final float[] beta;
        final float[] state;

        Inputs(int n, long seed) {
            Random random = new Random(seed);
            q = unitRows(random, n, (float) (1 / Math.sqrt(KEY_DIM)));
            k = unitRows(random, n, 1f);
            v = new float[n * VALUE_DIM];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) random.nextGaussian();
            }
            g = new float[n];
            beta = new float[n];
            for (int t = 0; t < n; t++) {
                g[t] = (float) -(0.001 + random.nextDouble() * 0.3);
                beta[t] = (float) random.nextDouble();
            }
            state = new float[KEY_DIM * VALUE_DIM];
            for (int i = 0; i < state.length; i++) {
                state[i] = (float) (0.5 * random.nextGaussian());
            }
        }

        private static float[] unitRows(Random random, int n, float scale) {
            float[] x = new float[n * KEY_DIM];
            for (int t = 0; t < n; t++) {
                double norm = 0;
                for (int i = 0; i < KEY_DIM; i++) {
                    x[t * KEY_DIM + i] = (float) random.nextGaussian();
                    norm += x[t * KEY_DIM + i] * x[t * KEY_DIM + i];
                }
                for (int i = 0; i < KEY_DIM; i++) {
                    x[t * KEY_DIM + i] *= (float) (scale / Math.sqrt(norm));
                }
            }
            return x;
        }
    }
}
