package ai.parallax.server.dashboard;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.parallax.models.LayerRange;
import ai.parallax.runtime.engine.EngineStats;
import ai.parallax.server.cluster.ClusterEventLog;
import ai.parallax.server.cluster.ClusterSnapshot;
import ai.parallax.server.scheduler.Allocation;
import ai.parallax.server.scheduler.ModelFootprint;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** How the cluster scheduler's snapshots become the dashboard's status, with made-up snapshots. */
class ClusterSchedulerViewTest {
    private static final Path STORIES = Path.of(System.getProperty("parallax.models")).resolve("stories260K");
    private static final String SCHEDULER = "12D3KooWScheduler00000000000000000000000000000000001";
    private static final String REMOTE = "12D3KooWRemote000000000000000000000000000000000000002";
    private static final String SPARE = "12D3KooWSpare0000000000000000000000000000000000000003";
    private static final ModelFootprint FOOTPRINT = new ModelFootprint(5, 300_000, 100_000, 128_000, 130_000);
    private static final EngineStats ENGINE = new EngineStats(1, 2, 10, 64, 0, 16, 0, 0, 40, 120, 130, 3, 0, 0);
    private static final List<ClusterEventLog.Event> EVENTS = List.of(
            new ClusterEventLog.Event(1_000, "join", "node box (…000002) joined"),
            new ClusterEventLog.Event(2_000, "allocation", "allocation 1 (node joined): pipeline 0"));

    private ClusterSchedulerView view;

    @AfterEach
    void close() {
        if (view != null) {
            view.close();
        }
    }

    private static ClusterSnapshot.Member member(String id, String name, boolean local, String state, Double rtt) {
        return new ClusterSnapshot.Member(id, name, local, state, 2_000_000, 12.5, 30.0, 500, rtt, rtt == null ? 0 : 900,
                "loading".equals(state) ? 0.5 : 0);
    }

    private static Allocation twoStages() {
        return new Allocation(List.of(new Allocation.Pipeline(List.of(
                new Allocation.Stage(SCHEDULER, new LayerRange(0, 2, 5)),
                new Allocation.Stage(REMOTE, new LayerRange(2, 5, 5))))), List.of(SPARE));
    }

    private ClusterSchedulerView view(ClusterSnapshot snapshot) {
        view = new ClusterSchedulerView(() -> snapshot, ModelCatalog.describe(STORIES), null,
                new ClusterSizing(1024, 2_000_000L), "lan", 3,
                "a hint", List.of(new ClusterStatus.Event(500, "info", "setup: stories260K on 3 nodes, LAN")));
        return view;
    }

    private static ClusterSnapshot snapshot(String waiting, Allocation allocation, boolean serving, String state) {
        return new ClusterSnapshot("stories260K", 5, SCHEDULER, "parallax join -s /ip4/10.0.0.1/tcp/4001/p2p/"
                + SCHEDULER + " --token abc", 3, waiting, 1, allocation, serving, FOOTPRINT, List.of(ENGINE),
                List.of(member(SCHEDULER, "box", true, state, null), member(REMOTE, "box", false, state, 0.42),
                        member(SPARE, "spare", false, "standby", 0.7)), EVENTS);
    }

    @Test
    void servingClusterShowsEachStageWithThePipelinesFiguresAndWhatItHolds() {
        ClusterSnapshot snap = snapshot(null, twoStages(), true, "ready");
        ClusterStatus s = view(snap).toStatus(snap, java.util.Map.of(0, new EngineRates.Rates(41.5, 12.0)), List.of(), 5_000);

        assertThat(s.state()).isEqualTo("ready");
        assertThat(s.message()).isEqualTo("serving stories260K on 2 nodes in 1 pipeline");
        assertThat(s.model().numLayers()).isEqualTo(5);
        assertThat(s.nodesExpected()).isEqualTo(3);
        assertThat(s.join().command()).startsWith("parallax join -s /ip4/10.0.0.1/");
        assertThat(s.join().joinable()).isTrue();
        assertThat(s.join().note()).isEqualTo("a hint");

        ClusterStatus.Node local = s.nodes().get(0);
        ClusterStatus.Node remote = s.nodes().get(1);
        ClusterStatus.Node spare = s.nodes().get(2);
        // Two nodes share a host name, so each gets its peer id's tail; the third keeps its own name.
        assertThat(local.name()).isEqualTo("box · …000001");
        assertThat(remote.name()).isEqualTo("box · …000002");
        assertThat(spare.name()).isEqualTo("spare");
        assertThat(local.role()).isEqualTo("scheduler+worker");
        assertThat(remote.role()).isEqualTo("worker");

        assertThat(local.layers()).isEqualTo(new ClusterStatus.LayerSpan(0, 2, 5));
        assertThat(remote.layers()).isEqualTo(new ClusterStatus.LayerSpan(2, 5, 5));
        assertThat(spare.layers()).isNull();
        assertThat(spare.pipeline()).isEqualTo(-1);
        assertThat(spare.state()).isEqualTo("standby");
        assertThat(remote.loadProgress()).isEqualTo(1.0);

        // Every stage of the pipeline runs every step: they share the engine's rates and counters.
        assertThat(remote.metrics().tokensPerSecond()).isEqualTo(41.5);
        assertThat(remote.metrics().stepLatencyMs()).isEqualTo(12.0);
        assertThat(remote.metrics().kvBlocksUsed()).isEqualTo(10);
        assertThat(remote.metrics().kvBlocksTotal()).isEqualTo(64);
        assertThat(remote.metrics().generatedTokens()).isEqualTo(120);
        assertThat(spare.metrics().tokensPerSecond()).isNull();
        assertThat(spare.metrics().generatedTokens()).isZero();
        // A remote last stage holds its three layers with their KV reserve, and the head.
        assertThat(remote.metrics().memoryUsedBytes()).isEqualTo(3 * 400_000L + 130_000);
        assertThat(remote.hardware().memoryOfferedBytes()).isEqualTo(2_000_000);
        assertThat(remote.hardware().matmulGflops()).isEqualTo(12.5);
        assertThat(remote.hardware().cores()).isNull();
        assertThat(local.hardware().cores()).isEqualTo(Runtime.getRuntime().availableProcessors());
        assertThat(remote.links()).containsExactly(new ClusterStatus.Link("scheduler", 0.42));
        assertThat(local.links()).isEmpty();

        assertThat(s.pipelines()).hasSize(1);
        assertThat(s.pipelines().getFirst().ready()).isTrue();
        assertThat(s.pipelines().getFirst().stages()).containsExactly(new ClusterStatus.Stage(SCHEDULER, 0, 2),
                new ClusterStatus.Stage(REMOTE, 2, 5));
        assertThat(s.events()).extracting(ClusterStatus.Event::kind).containsExactly("info", "join", "allocation");
    }

    @Test
    void clusterWaitingForNodesShowsNoLayersAndSaysWhy() {
        ClusterSnapshot snap = snapshot("waiting for nodes: 2 of 3 (-n) have joined", null, false, "joined");
        ClusterStatus s = view(snap).toStatus(snap, java.util.Map.of(), List.of(), 5_000);

        assertThat(s.state()).isEqualTo("waiting");
        assertThat(s.message()).isEqualTo("waiting for nodes: 2 of 3 (-n) have joined");
        assertThat(s.pipelines()).isEmpty();
        assertThat(s.nodes().get(0).state()).isEqualTo("waiting");
        assertThat(s.nodes().get(0).layers()).isNull();
        assertThat(s.nodes().get(1).metrics().tokensPerSecond()).isNull();
    }

    @Test
    void allocationBeingLoadedShowsItsPipelineNotReadyAndEachNodesReportedProgress() {
        ClusterSnapshot snap = snapshot(null, twoStages(), false, "loading");
        ClusterStatus s = view(snap).toStatus(snap, java.util.Map.of(), List.of(), 5_000);

        assertThat(s.state()).isEqualTo("loading");
        assertThat(s.pipelines()).hasSize(1);
        assertThat(s.pipelines().getFirst().ready()).isFalse();
        assertThat(s.nodes().get(1).state()).isEqualTo("loading");
        assertThat(s.nodes().get(1).layers()).isEqualTo(new ClusterStatus.LayerSpan(2, 5, 5));
        // member() gives a loading node the progress 0.5, as if the node had reported half its stage loaded.
        assertThat(s.nodes().get(1).loadProgress()).isEqualTo(0.5);
    }

    @Test
    void nodeThatLeftStaysListedAsLeft() {
        ClusterSnapshot snap = snapshot(null, twoStages(), true, "ready");
        ClusterSnapshot.Member gone = member("12D3KooWGone00000000000000000000000000000000000000004", "old", false,
                "ready", 1.0);
        ClusterStatus s = view(snap).toStatus(snap, java.util.Map.of(), List.of(gone), 5_000);

        ClusterStatus.Node last = s.nodes().getLast();
        assertThat(last.name()).isEqualTo("old · …000004");
        assertThat(last.state()).isEqualTo("left");
        assertThat(last.layers()).isNull();
    }

    @Test
    void setupMayOnlyConfirmTheServedModel() {
        ClusterSnapshot snap = snapshot(null, twoStages(), true, "ready");
        ClusterSchedulerView v = view(snap);
        assertThat(v.setup(new SetupRequest("stories260K", 3, "lan")).state()).isEqualTo("ready");
        assertThatThrownBy(() -> v.setup(new SetupRequest("tiny-random-qwen3", 3, "lan")))
                .isInstanceOfSatisfying(ClusterView.SetupRefusedException.class,
                        e -> assertThat(e.status()).isEqualTo(409))
                .hasMessageContaining("already serves stories260K");
        assertThatThrownBy(() -> v.setup(new SetupRequest("stories260K", 0, "lan")))
                .hasMessage("nodes must be at least 1, got 0");
    }

    @Test
    void setupPageSizesModelsAsTheSchedulerDoesWithWhatTheJoinedNodesOffer() {
        ClusterSnapshot snap = snapshot(null, twoStages(), true, "ready");
        ClusterModels m = view(snap).models();
        // Every member offers 2,000,000 bytes.
        assertThat(m.nodeMemoryBytes()).isEqualTo(2_000_000);
        // With 1024 KV positions per layer, stories260K needs 5 layers of 433.5 KiB, a 128 KiB embedding and a
        // 128.3 KiB head (what 'serve --kv-blocks 64' logs): about 2.4 MiB, more than the catalog's one-sequence guess.
        long estimate = m.models().getFirst().estimatedMemoryBytes();
        assertThat(estimate).isBetween((long) (2.35 * 1048576), (long) (2.45 * 1048576));
        assertThat(estimate).isGreaterThan(ModelCatalog.describe(STORIES).estimatedMemoryBytes());
    }

    @Test
    void stageBytesCountTheEmbeddingOnTheFirstStageAndTheHeadOnTheLast() {
        assertThat(ClusterSchedulerView.stageBytes(FOOTPRINT, 2, true, false)).isEqualTo(2 * 400_000L + 128_000);
        assertThat(ClusterSchedulerView.stageBytes(FOOTPRINT, 5, true, true)).isEqualTo(FOOTPRINT.wholeModelBytes());
        assertThat(ClusterSchedulerView.stageBytes(FOOTPRINT, 1, false, false)).isEqualTo(400_000L);
    }
}
