package ai.parallax.server.cluster;

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
