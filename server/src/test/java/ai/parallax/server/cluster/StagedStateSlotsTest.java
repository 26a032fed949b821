package ai.parallax.server.cluster;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.LayerRange;
import ai.parallax.models.LayerProfile;
import ai.parallax.models.ModelLoader;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.runtime.GenerationRequest;
import ai.parallax.runtime.GenerationResult;
import ai.parallax.runtime.engine.EngineConfig;
import ai.parallax.runtime.engine.InferenceEngine;
import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.server.cluster.ClusterMessages.Assignment;
import ai.parallax.tensors.ops.Ops;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import static ai.parallax.server.cluster.StageTestSupport.ids;
import static ai.parallax.server.cluster.StageTestSupport.overTheWire;
import static ai.parallax.server.cluster.StageTestSupport.submit;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Models that keep state per sequence, served by an engine over a pipeline of stages: Qwen3-Next's linear-attention
 * layers keep a recurrent state and gpt-oss's sliding layers a ring of their window, each in the state slot the
 * engine names per sequence and the step frame carries to every stage. The stages are the real pieces a node runs
 * ({@link StageWorker} on its own thread, {@link PipelineStepRunner} under an {@link InferenceEngine}); every hop
 * encodes and decodes the frame as the network would. Stage boundaries fall between layers of different types.
 * Three prompts run together (prefill chunks interleave with decodes) and each greedy continuation must equal the
 * float64 reference's in expected.json.
 */
class StagedStateSlotsTest {
    private static final Path MODELS = Path.of(System.getProperty("parallax.models"));
    private static final int BLOCK_SIZE = 4;
    private static final int MAX_RUNNING = 4;
    private static final int MAX_POSITIONS = 256;
    /**
     * Prefill chunks of 8 make the 40-token prompt span five steps, mixed with the others' decodes; its 40 + 12
     * positions also run past gpt-oss's ring of 2 × 8 rows several times.
     */
    private static final EngineConfig ENGINE = new EngineConfig(BLOCK_SIZE, 64, 8, MAX_RUNNING, 16);

    /** Layer types: qwen3-next 0 linear, 1 full, 2 linear, 3 full; gpt-oss 0 sliding, 1 full, 2 sliding. */
    static Stream<Arguments> splits() {
        return Stream.of(
                Arguments.of("tiny-random-qwen3-next", new int[] {0, 1, 4}, 0),   // linear | full, linear, full
                Arguments.of("tiny-random-qwen3-next", new int[] {0, 1, 2, 4}, 0), // linear | full | linear, full
                Arguments.of("tiny-random-qwen3-next", new int[] {0, 3, 4}, 9),   // linear, full, linear | full
                Arguments.of("tiny-random-gpt-oss", new int[] {0, 1, 3}, 0),      // sliding | full, sliding
                Arguments.of("tiny-random-gpt-oss", new int[] {0, 2, 3}, 9));     // sliding, full | sliding
    }

    /**
     * @param failAtStep when positive, that step fails on the way to the last stage: the engine replays every
     *                   running sequence from position 0 over the same stages, whose slots still hold the state of
     *                   the interrupted run; a replay that did not start afresh would continue from it
     */
    @ParameterizedTest(name = "{0} cut at {1}, failing step {2}")
    @MethodSource("splits")
    void greedyContinuationsMatchTheReferenceWithStateOnTheStagesThatHoldIt(String name, int[] cuts, int failAtStep)
            throws Exception {
        Path dir = MODELS.resolve(name);
        ModelConfig config = ModelConfig.read(dir);
        assertThat(ClusterScheduler.keepsStatePerSequence(config)).isTrue();
        AtomicInteger broken = new AtomicInteger();
        try (Stages stages = new Stages(dir, config, cuts, 1, failAtStep)) {
            for (int i = 0; i + 1 < cuts.length; i++) {
                boolean stateful = false;
                for (int layer = cuts[i]; layer < cuts[i + 1]; layer++) {
                    LayerProfile profile = LayerProfile.of(config, layer);
                    stateful |= profile.window() > 0 || profile.stateBytesPerSequence() > 0;
                }
                // As the single-machine engine's cache: slots where linear or sliding layers are, pools elsewhere.
                assertThat(stages.workers.get(i).sequenceSlots()).as("state slots of stage %d", i)
                        .isEqualTo(stateful ? MAX_RUNNING : 0);
            }
            PipelineStepRunner runner = stages.runner(0, broken);
            assertThat(runner.sequenceSlots()).as("the engine names a slot per running sequence")
                    .isEqualTo(MAX_RUNNING);
            try (InferenceEngine engine = new InferenceEngine(runner, null, Set.of(), ENGINE).start()) {
                assertReferenceContinuations(dir, engine, name + " over stages " + Arrays.toString(cuts), false);
                assertThat(broken.get()).as("the pipeline broke once").isEqualTo(failAtStep > 0 ? 1 : 0);
                if (failAtStep > 0) {
                    assertThat(engine.stats().preemptions()).as("the running sequences were replayed").isPositive();
                }
            }
        }
    }

    /**
     * Two engines over one pipeline's stages (as while the cluster is short of nodes): each owns its range of the
     * stages' KV blocks and of their state slots, so their sequences, running at the same time, never share a slot.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tiny-random-qwen3-next", "tiny-random-gpt-oss"})
    void twoEnginesSharingTheStagesKeepTheirSequencesStateApart(String name) throws Exception {
        Path dir = MODELS.resolve(name);
        ModelConfig config = ModelConfig.read(dir);
        AtomicInteger broken = new AtomicInteger();
        try (Stages stages = new Stages(dir, config, new int[] {0, 1, config.numLayers()}, 2, 0);
             InferenceEngine a = new InferenceEngine(stages.runner(0, broken), null, Set.of(), ENGINE).start();
             InferenceEngine b = new InferenceEngine(stages.runner(1, broken), null, Set.of(), ENGINE).start()) {
            assertThat(stages.workers.getFirst().sequenceSlots()).isEqualTo(2 * MAX_RUNNING);
            // Engine 1 submits the prompts in reverse, so each slot number holds different sequences in the two
            // engines: were their slots the same, the one's state would overwrite the other's.
            CompletableFuture<Void> first = CompletableFuture.runAsync(() -> assertReferenceContinuations(dir, a,
                    name + " engine 0", false));
            assertReferenceContinuations(dir, b, name + " engine 1", true);
            first.get(120, TimeUnit.SECONDS);
            assertThat(broken.get()).isZero();
        }
    }

    /**
     * The same over the network: three P2P nodes on loopback, two of them {@link StageHost}s given their stage by an
     * {@link Assignment} as {@code join} gets it (blocks, state slots, next hop's address), the third the
     * scheduler's side, whose runner sends steps to the first stage and hears the last stage's logits.
     */
    @ParameterizedTest(name = "{0} cut at {1}")
    @MethodSource("p2pSplits")
    void stageHostsOverLoopbackP2pServeTheReferenceContinuations(String name, int cut) throws Exception {
        Path dir = MODELS.resolve(name);
        ModelConfig config = ModelConfig.read(dir);
        java.io.StringWriter log = new java.io.StringWriter();
        java.io.PrintWriter out = new java.io.PrintWriter(log, true);
        List<AutoCloseable> open = new ArrayList<>();
        try {
            P2pNode scheduler = node(open);
            P2pNode firstNode = node(open);
            P2pNode lastNode = node(open);
            Ops firstOps = new SimdOps(1);
            open.add(firstOps);
            Ops lastOps = new SimdOps(1);
            open.add(lastOps);
            StageHost first = new StageHost(firstNode, firstOps, dir, scheduler.peerId(), null, out);
            open.add(first); // closed in reverse order: the hosts before their kernels and nodes
            StageHost last = new StageHost(lastNode, lastOps, dir, scheduler.peerId(), null, out);
            open.add(last);
            ActivationLink.serve(firstNode, first::onInbound);
            ActivationLink.serve(lastNode, last::onInbound);
            PipelineStepRunner runner = new PipelineStepRunner(config.vocabSize(), MAX_POSITIONS, MAX_RUNNING,
                    Duration.ofSeconds(30), Duration.ofSeconds(60), reason -> { }, new AtomicLong());
            ActivationLink.serve(scheduler, (peer, frame) -> runner.deliver(frame));
            for (P2pNode n : List.of(firstNode, lastNode)) {
                connect(n, scheduler); // as join does: the node dials its scheduler
            }
            int total = config.numLayers();
            ClusterMessages.AssignmentReply lastReply = last.apply(new Assignment(1, name, cut, total, total,
                    ENGINE.blockCount(), BLOCK_SIZE, MAX_POSITIONS, "f32", firstNode.peerId().toString(), null,
                    MAX_RUNNING));
            assertThat(lastReply.loaded()).as("%s%n%s", lastReply.error(), log).isTrue();
            ClusterMessages.AssignmentReply firstReply = first.apply(new Assignment(1, name, 0, cut, total,
                    ENGINE.blockCount(), BLOCK_SIZE, MAX_POSITIONS, "f32", null,
                    lastNode.listenAddrs().getFirst().toString(), MAX_RUNNING));
            assertThat(firstReply.loaded()).as("%s%n%s", firstReply.error(), log).isTrue();
            assertThat(first.worker().sequenceSlots() + last.worker().sequenceSlots()).isPositive();
            // Both cuts leave a stateful layer (linear or sliding) on each side, so each stage holds every slot.
            assertThat(first.worker().sequenceSlots()).as("first stage's slots").isEqualTo(MAX_RUNNING);
            assertThat(last.worker().sequenceSlots()).as("last stage's slots").isEqualTo(MAX_RUNNING);
            ActivationLink entry = ActivationLink.open(scheduler, firstNode.peerId(), (p, f) -> { },
                    Duration.ofSeconds(10));
            runner.activate(1, entry::send);
            try (InferenceEngine engine = new InferenceEngine(runner, null, Set.of(), ENGINE).start()) {
                assertReferenceContinuations(dir, engine, name + " over P2P cut at " + cut, false);
            }
        } finally {
            for (AutoCloseable c : open.reversed()) {
                c.close();
            }
        }
    }

    /** qwen3-next: linear | full, linear, full; gpt-oss: sliding, full | sliding. */
    static Stream<Arguments> p2pSplits() {
        return Stream.of(Arguments.of("tiny-random-qwen3-next", 1), Arguments.of("tiny-random-gpt-oss", 2));
    }

    /** Dials {@code to} from {@code from} and waits until both ends hold the connection. */
    private static void connect(P2pNode from, P2pNode to) throws Exception {
        from.dial(to.listenAddrs().getFirst()).get(10, TimeUnit.SECONDS);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (to.connection(from.peerId()).isEmpty() || from.connection(to.peerId()).isEmpty()) {
            assertThat(System.nanoTime()).as("both ends of the connection").isLessThan(deadline);
            Thread.sleep(5);
        }
    }

    private static P2pNode node(List<AutoCloseable> open) throws Exception {
        P2pNode n = new P2pNode(IdentityKeyPair.generate(),
                P2pNode.Options.defaults().withHost("127.0.0.1").withPort(0));
        open.add(n::close);
        n.start();
        return n;
    }

    /** Submits expected.json's prompts together (in order or reversed) and checks each greedy continuation. */
    private static void assertReferenceContinuations(Path dir, InferenceEngine engine, String what,
                                                     boolean reversed) {
        try {
            JsonNode cases = new ObjectMapper().readTree(dir.resolve("expected.json").toFile()).get("cases");
            List<Integer> order = new ArrayList<>();
            for (int i = 0; i < cases.size(); i++) {
                order.add(reversed ? cases.size() - 1 - i : i);
            }
            List<CompletableFuture<GenerationResult>> results = new ArrayList<>();
            for (int i : order) {
                results.add(submit(engine, GenerationRequest.greedy(ids(cases.get(i).get("input_ids")), 12)));
            }
            for (int k = 0; k < order.size(); k++) {
                int i = order.get(k);
                assertThat(results.get(k).get(120, TimeUnit.SECONDS).generatedIds()).as("%s case %d", what, i)
                        .containsExactly(ids(cases.get(i).get("greedy_continuation")));
            }
        } catch (Exception e) {
            throw new AssertionError(what + ": " + e, e);
        }
    }

    /**
     * A pipeline's stages in this JVM, each a {@link StageWorker} on its own thread, sized as the scheduler sizes
     * them for {@code engines} engines; every hop encodes and decodes the frame, and the last stage's answers are
     * offered to every runner, which takes its own (as the scheduler's node does).
     */
    private static final class Stages implements AutoCloseable {
        /** One set of kernels per stage, as each node has its own: two engines' steps run on two stages at once. */
        final List<Ops> kernels = new ArrayList<>();
        final List<CausalLanguageModel> models = new ArrayList<>();
        final List<StageWorker> workers = new ArrayList<>();
        final List<PipelineStepRunner> runners = new java.util.concurrent.CopyOnWriteArrayList<>();
        final AtomicLong steps = new AtomicLong();
        final PipelineStepRunner.Entry entry;

        Stages(Path dir, ModelConfig config, int[] cuts, int engines, int failAtStep) {
            for (int i = 0; i + 1 < cuts.length; i++) {
                Ops ops = new SimdOps(1);
                kernels.add(ops);
                CausalLanguageModel model = ModelLoader.load(dir, config, ops,
                        new LayerRange(cuts[i], cuts[i + 1], config.numLayers()), MAX_POSITIONS);
                models.add(model);
                workers.add(new StageWorker(model, ops, engines * ENGINE.blockCount(), BLOCK_SIZE,
                        engines * MAX_RUNNING, StepFrame.Payload.F32, 1));
            }
            for (int i = 0; i + 1 < workers.size(); i++) {
                StageWorker next = workers.get(i + 1);
                boolean beforeLast = i + 2 == workers.size();
                workers.get(i).next(frame -> {
                    if (beforeLast && failAtStep > 0 && frame.step == failAtStep) {
                        deliver(StepFrame.failed(frame.epoch, frame.step, "the link broke (test)"));
                        return;
                    }
                    next.submit(overTheWire(frame));
                });
            }
            workers.getLast().next(frame -> deliver(overTheWire(frame)));
            StageWorker first = workers.getFirst();
            entry = frame -> first.submit(overTheWire(frame));
        }

        private void deliver(StepFrame frame) {
            for (PipelineStepRunner r : runners) {
                r.deliver(frame);
            }
        }

        /**
         * The runner of engine {@code index}, activated with its share of the stages' blocks and slots. When the
         * pipeline breaks it is activated again over the same stages, their slots as the failure left them.
         */
        PipelineStepRunner runner(int index, AtomicInteger broken) {
            PipelineStepRunner[] runner = new PipelineStepRunner[1];
            runner[0] = new PipelineStepRunner(models.getFirst().config().vocabSize(), MAX_POSITIONS, MAX_RUNNING,
                    Duration.ofSeconds(30), Duration.ofSeconds(60), reason -> {
                        broken.incrementAndGet();
                        runner[0].activate(1, entry, index * ENGINE.blockCount(), index * MAX_RUNNING);
                    }, steps);
            runner[0].activate(1, entry, index * ENGINE.blockCount(), index * MAX_RUNNING);
            runners.add(runner[0]);
            return runner[0];
        }

        @Override
        public void close() {
            for (StageWorker w : workers) {
                w.stop();
            }
            for (CausalLanguageModel m : models) {
                m.close();
            }
            for (Ops o : kernels) {
                o.close();
            }
        }
    }

    /** Models whose layers all keep keys and values per position (full attention, MLA) need no state slots. */
    @ParameterizedTest
    @ValueSource(strings = {"stories260K", "tiny-random-qwen3", "tiny-random-deepseek-v3"})
    void modelsWithoutLinearOrSlidingLayersNameNoStateSlots(String name) {
        assertThat(ClusterScheduler.keepsStatePerSequence(ModelConfig.read(MODELS.resolve(name)))).isFalse();
    }

    /** Layer types of the test models, so the cuts above fall where their comments say. */
    @ParameterizedTest
    @MethodSource("splits")
    void cutsFallBetweenLayersOfDifferentTypes(String name, int[] cuts, int ignored) {
        ModelConfig config = ModelConfig.read(MODELS.resolve(name));
        for (int i = 1; i + 1 < cuts.length; i++) {
            assertThat(LayerProfile.of(config, cuts[i] - 1).attention())
                    .as("%s layers %d and %d", name, cuts[i] - 1, cuts[i])
                    .isNotEqualTo(LayerProfile.of(config, cuts[i]).attention());
        }
    }
}
