package ai.parallax.server.cluster;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.identity.PeerId;
import ai.parallax.server.cluster.ClusterMessages.Assignment;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** A node's stage across re-allocations, without the network: its output goes straight to a local consumer. */
class StageHostTest {
    private static final Path DIR = Path.of(System.getProperty("parallax.models"), "stories260K");

    @Test
    void sameLayersAgainAreKeptLoadedAndStillComputeTheSameLogits() throws Exception {
        StringWriter log = new StringWriter();
        PeerId scheduler = IdentityKeyPair.generate().peerId();
        CompletableFuture<StepFrame>[] out = new CompletableFuture[1];
        try (Ops ops = new SimdOps(1);
             StageHost host = new StageHost(null, ops, DIR, scheduler, f -> out[0].complete(f),
                     new PrintWriter(log, true))) {
            float[] first = step(host, out, new Assignment(1, "stories260K", 0, 5, 5, 8, 16, 256, "f32", null, null));
            StageWorker before = host.worker();
            float[] again = step(host, out, new Assignment(2, "stories260K", 0, 5, 5, 8, 16, 256, "f32", null, null));
            assertThat(host.worker()).isNotSameAs(before); // a fresh KV pool and epoch ...
            assertThat(host.worker().model()).isSameAs(before.model()); // ... over the same loaded layers
            // Same layers, same input: the same logits, up to the kernels' order of summing lanes (interpreted, C1 or
            // C2 code), which moves only the last bits.
            assertThat(again).containsExactly(first, within(1e-4f));
            assertThat(log.toString()).contains("allocation 1: ready with layers [0, 5) of 5").contains("loaded")
                    .contains("allocation 2: ready with layers [0, 5) of 5")
                    .contains("kept from the last allocation");
            step(host, out, new Assignment(3, "stories260K", 0, 5, 5, 8, 16, 128, "f32", null, null));
            assertThat(host.worker().model()).as("another context length needs a fresh load")
                    .isNotSameAs(before.model());
        }
    }

    /** Applies {@code a} and runs one 3-token prefill through the stage; returns the last row's logits. */
    private static float[] step(StageHost host, CompletableFuture<StepFrame>[] out, Assignment a) throws Exception {
        assertThat(host.apply(a).loaded()).isTrue();
        out[0] = new CompletableFuture<>();
        BatchLayout layout = new BatchLayout(16);
        layout.add(0, 3, new int[] {0});
        host.onInbound(null, StepFrame.tokens(a.epoch(), 1, layout, new int[] {1, 403, 407}, new int[] {2}));
        StepFrame result = out[0].get(30, TimeUnit.SECONDS);
        assertThat(result.kind).as(result.error).isEqualTo(StepFrame.Kind.OUTPUT);
        return result.values;
    }
}
