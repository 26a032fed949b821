package ai.parallax.server.cluster;

import ai.parallax.runtime.sampling.SamplingRule;
import ai.parallax.runtime.sampling.TokenLogprob;
import ai.parallax.tensors.ops.BatchLayout;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class StepFrameTest {
    @Test
    void stepTravelsWithItsBatchLayoutAndHiddenStatesInBf16() {
        BatchLayout layout = new BatchLayout(4);
        layout.add(0, 3, new int[] {7});
        layout.add(5, 1, new int[] {2, 9, 11}); // longer table than needed: only the 2 blocks in use travel
        StepFrame step = StepFrame.tokens(3, 42, layout, new int[] {10, 11, 12, 13, 99}, new int[] {2, 3});
        StepFrame hidden = step.withHidden(StepFrame.Payload.BF16, new float[] {1f, -2.5f, 3.140625f, 1e-3f,
                0.1f, 7f, 8f, 9f}, 2);
        StepFrame back = StepFrame.decode(ByteBuffer.wrap(hidden.encode()));
        assertThat(back.epoch).isEqualTo(3);
        assertThat(back.step).isEqualTo(42);
        assertThat(back.blockTables).isDeepEqualTo(new int[][] {{7}, {2, 9}});
        assertThat(back.logitRows).containsExactly(2, 3);
        BatchLayout rebuilt = new BatchLayout(4);
        back.fill(rebuilt);
        assertThat(rebuilt.slots()).containsExactly(28, 29, 30, 37);
        // bf16 keeps the top 16 bits, rounded to nearest: 1e-3f = 0x3A83126F rounds down, 0.1f = 0x3DCCCCCD up.
        assertThat(back.values).containsExactly(1f, -2.5f, 3.140625f, Float.intBitsToFloat(0x3A830000),
                Float.intBitsToFloat(0x3DCD0000), 7f, 8f, 9f);
        StepFrame tokens = StepFrame.decode(ByteBuffer.wrap(step.encode()));
        assertThat(tokens.tokens).containsExactly(10, 11, 12, 13);
    }

    @Test
    void stateSlotsTravelShiftedByTheRunnersOffsetAndVersionZeroFramesNameNone() {
        BatchLayout layout = new BatchLayout(4);
        layout.add(0, 2, new int[] {1}, 0);
        layout.add(3, 1, new int[] {4}, 2);
        StepFrame step = StepFrame.tokens(5, 6, layout, new int[] {7, 8, 9}, new int[] {1, 2}, null, 10, 4);
        byte[] wire = step.withHidden(StepFrame.Payload.F32, new float[] {1, 2, 3}, 1).encode();
        assertThat(wire[0]).as("version 2, kind step").isEqualTo((byte) 0x21);
        StepFrame back = StepFrame.decode(ByteBuffer.wrap(wire));
        assertThat(back.stateSlots).containsExactly(4, 6);
        assertThat(back.blockTables).isDeepEqualTo(new int[][] {{11}, {14}});
        BatchLayout rebuilt = new BatchLayout(4);
        back.fill(rebuilt);
        assertThat(rebuilt.stateSlot(0)).isEqualTo(4);
        assertThat(rebuilt.stateSlot(1)).isEqualTo(6);

        // The same step as a node of the previous release wrote it: no slot field, the bare kind in the first byte.
        ByteBuffer old = ByteBuffer.allocate(17 + 4 + 16 + 4 + 4 + 9 + 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        old.put((byte) 1).putLong(5).putLong(6).putInt(1).putInt(0).putInt(1).putInt(1).putInt(11)
                .putInt(1).putInt(0).put((byte) 2).putInt(1).putInt(1).putFloat(1f).flip();
        StepFrame legacy = StepFrame.decode(old);
        assertThat(legacy.stateSlots).containsExactly(BatchLayout.NO_STATE_SLOT);
        assertThat(legacy.blockTables).isDeepEqualTo(new int[][] {{11}});
        assertThat(legacy.values).containsExactly(1f);

        wire[0] = 0x31;
        assertThatThrownBy(() -> StepFrame.decode(ByteBuffer.wrap(wire))).hasMessageContaining("format version 3");
    }

    /** The rules travel with the step to the last stage; its output carries ids, logprobs and unpicked logits. */
    @Test
    void samplingRulesGoDownAndPickedTokensComeBackInsteadOfLogits() {
        BatchLayout layout = new BatchLayout(4);
        layout.add(0, 2, new int[] {0});
        layout.add(0, 1, new int[] {1});
        layout.add(0, 1, new int[] {2});
        SamplingRule sampled = new SamplingRule(0.7, 40, 0.9, 0.05, 0.123456789, 2);
        SamplingRule greedy = new SamplingRule(0, 0, 1, 0, 0, -1);
        StepFrame step = StepFrame.tokens(2, 8, layout, new int[] {1, 2, 3, 4}, new int[] {1, 2, 3},
                new SamplingRule[] {sampled, null, greedy}, 0, 0);
        StepFrame down = StepFrame.decode(ByteBuffer.wrap(
                step.withHidden(StepFrame.Payload.BF16, new float[16], 4).encode()));
        assertThat(down.rules).containsExactly(sampled, null, greedy);

        int vocab = 5;
        TokenLogprob withAlternatives = new TokenLogprob(3, -0.25, java.util.List.of(
                new TokenLogprob.Alternative(3, -0.25), new TokenLogprob.Alternative(1, -1.5)));
        StepFrame output = down.withOutput(new int[] {3, -1, 4}, new TokenLogprob[] {withAlternatives, null, null},
                new float[] {0.5f, 1.5f, -2f, 3f, 4f}, vocab);
        byte[] wire = output.encode();
        StepFrame back = StepFrame.decode(ByteBuffer.wrap(wire));
        assertThat(back.kind).isEqualTo(StepFrame.Kind.OUTPUT);
        assertThat(back.picked).containsExactly(3, -1, 4);
        assertThat(back.pickedLogprobs).containsExactly(withAlternatives, null, null);
        assertThat(back.rows).as("only the row not picked carries logits").isEqualTo(1);
        assertThat(back.values).containsExactly(0.5f, 1.5f, -2f, 3f, 4f);
        // 17 header + 4 sequences + 4 + 12 logit rows + picks (4 + 4 + 8 + 2 × 12, 4, 4 + 4) + 9 + 20 payload bytes
        assertThat(wire).hasSize(17 + 4 + 4 + 12 + 40 + 4 + 8 + 9 + 20);

        StepFrame allLogits = StepFrame.decode(ByteBuffer.wrap(step.withLogits(new float[3 * vocab], vocab)
                .encode()));
        assertThat(allLogits.picked).containsExactly(-1, -1, -1);
        assertThat(allLogits.rows).isEqualTo(3);
    }

    @Test
    void anOutputWhoseLogitRowsDoNotMatchItsPicksIsRefused() {
        BatchLayout layout = new BatchLayout(4);
        layout.add(0, 1, new int[] {0});
        byte[] wire = StepFrame.tokens(1, 1, layout, new int[] {1}, new int[] {0})
                .withOutput(new int[] {-1}, new TokenLogprob[1], new float[] {1f, 2f, 3f}, 3).encode();
        assertThat(StepFrame.decode(ByteBuffer.wrap(wire)).values).containsExactly(1f, 2f, 3f);
        // The same frame claiming no rows of logits (and carrying none): its one row not picked has nothing.
        int rowsAt = 17 + 4 + 4 + 4 + 4 + 1; // header, sequences, logit rows and the row, the pick, payload code
        ByteBuffer lying = ByteBuffer.wrap(java.util.Arrays.copyOf(wire, wire.length - 12))
                .order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(rowsAt, 0);
        assertThatThrownBy(() -> StepFrame.decode(lying)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("0 rows of logits for 1 rows not picked");
    }

    @Test
    void q8KeepsEachValueWithinHalfAStepOfItsBlockAndBlocksNeverSpanRows() {
        BatchLayout layout = new BatchLayout(4);
        layout.add(0, 2, new int[] {0});
        int columns = 40; // one full block of 32 and a short one of 8 per row
        float[] hidden = new float[2 * columns];
        java.util.Random random = new java.util.Random(7);
        for (int i = 0; i < hidden.length; i++) {
            hidden[i] = (float) random.nextGaussian() * (i < columns ? 1f : 1000f); // rows of very different scale
        }
        StepFrame frame = StepFrame.tokens(1, 1, layout, new int[] {5, 6}, new int[] {1})
                .withHidden(StepFrame.Payload.Q8, hidden, columns);
        byte[] wire = frame.encode();
        StepFrame back = StepFrame.decode(ByteBuffer.wrap(wire));
        // 2 rows × (2 scales × 4 bytes + 40 int8) = 96 payload bytes, against 160 for bf16 and 320 for f32.
        assertThat(StepFrame.Payload.Q8.wireBytes(2, columns)).isEqualTo(96);
        assertThat(frame.withHidden(StepFrame.Payload.F32, hidden, columns).encode().length - wire.length)
                .isEqualTo(320 - 96);
        for (int r = 0; r < 2; r++) {
            for (int start = 0; start < columns; start += 32) {
                float max = 0;
                for (int c = start; c < Math.min(columns, start + 32); c++) {
                    max = Math.max(max, Math.abs(hidden[r * columns + c]));
                }
                for (int c = start; c < Math.min(columns, start + 32); c++) {
                    int i = r * columns + c;
                    assertThat(Math.abs(back.values[i] - hidden[i])).as("value %d", i)
                            .isLessThanOrEqualTo(max / 254f * 1.0001f);
                }
            }
        }
        // The small-scale row keeps its precision: the large row's scale did not leak into it.
        assertThat(Math.abs(back.values[0] - hidden[0])).isLessThan(0.02f);
    }

    @Test
    void malformedFramesAreRefusedWithAReason() {
        byte[] good = StepFrame.failed(1, 2, "stage [0, 2) failed").encode();
        assertThat(StepFrame.decode(ByteBuffer.wrap(good)).error).isEqualTo("stage [0, 2) failed");
        byte[] truncated = new byte[] {1, 0, 0};
        assertThatThrownBy(() -> StepFrame.decode(ByteBuffer.wrap(truncated))).hasMessageContaining("truncated");
        ByteBuffer huge = ByteBuffer.allocate(21).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        huge.put((byte) 1).putLong(0).putLong(0).putInt(1_000_000).flip();
        assertThatThrownBy(() -> StepFrame.decode(huge)).hasMessageContaining("1000000 sequences");
    }
}
