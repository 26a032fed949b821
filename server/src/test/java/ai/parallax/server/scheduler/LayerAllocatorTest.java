package ai.parallax.server.scheduler;

import ai.parallax.models.config.ModelConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LayerAllocatorTest {
    /** 32 layers of 1 GiB each (KV included), a 0.5 GiB embedding and a 0.5 GiB head: about 33 GiB a copy. */
    static final long GIB = 1L << 30;
    static final ModelFootprint MODEL = new ModelFootprint(32, GIB - (64L << 20), 64L << 20, GIB / 2, GIB / 2);

    static NodeProfile node(String id, double memoryGib, double speed) {
        return new NodeProfile(id, (long) (memoryGib * GIB), speed);
    }

    @Test
    void footprintOfStories260kComesFromItsTensorSizes() {
        Path dir = Path.of(System.getProperty("parallax.models", "../../shared/models"), "stories260K");
        ModelFootprint f = ModelFootprint.of(dir, ModelConfig.read(dir), 100);
        // hidden 64, 8 heads of 8, 4 KV heads, MLP 172, f32: q,o 64×64; k,v 32×64; gate, up, down 172×64; 2 norms.
        long layerFloats = 2 * 64 * 64 + 2 * 32 * 64 + 3 * 172 * 64 + 2 * 64;
        assertThat(f.layers()).isEqualTo(5);
        assertThat(f.layerBytes()).isEqualTo(layerFloats * 4);
        assertThat(f.embeddingBytes()).isEqualTo(512 * 64 * 4);
        assertThat(f.headBytes()).isEqualTo(512 * 64 * 4 + 64 * 4); // tied head: the embedding again, plus the norm
        assertThat(f.kvBytesPerLayer()).isEqualTo(100L * 2 * 32 * 4); // keys and values, 32 wide, f32
    }

    @Test
    void capacitySubtractsEmbeddingOnTheFirstStageAndHeadOnTheLast() {
        NodeCapacity c = NodeCapacity.of(node("a", 10, 1), MODEL);
        assertThat(c.middle()).isEqualTo(10);
        assertThat(c.first()).isEqualTo(9);
        assertThat(c.last()).isEqualTo(9);
        assertThat(c.whole()).isEqualTo(9);
        assertThat(NodeCapacity.of(node("b", 100, 1), MODEL).middle()).isEqualTo(32); // never more than the model
        assertThat(NodeCapacity.of(node("c", 0.4, 1), MODEL).first()).isZero();
    }

    @Test
    void oneBigNodeServesTheWholeModel() {
        Allocation a = LayerAllocator.allocate(List.of(node("big", 64, 1)), MODEL);
        assertThat(a.pipelines()).hasSize(1);
        assertThat(a.pipelines().getFirst().stages()).singleElement()
                .satisfies(s -> assertThat(s.layers().isWholeModel()).isTrue());
        assertThat(a.standby()).isEmpty();
    }

    @Test
    void twoNodesThatEachHoldTheModelBuildTwoPipelines() {
        Allocation a = LayerAllocator.allocate(List.of(node("a", 40, 1), node("b", 40, 1)), MODEL);
        assertThat(a.pipelines()).hasSize(2); // k²/s: 4/2 beats 1/1
        assertThat(a.pipelines()).allSatisfy(p -> assertThat(p.stages()).hasSize(1));
    }

    @Test
    void manySmallNodesBuildSeveralPipelines() {
        List<NodeProfile> nodes = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            nodes.add(node("n" + i, 9, 1)); // 8 layers as a middle stage, 8 as first/last (9 - 0.5 GiB)
        }
        Allocation a = LayerAllocator.allocate(nodes, MODEL);
        // 32 layers need 4 such nodes (8+8+8+8); 8 nodes make 2 pipelines: 4/4 = 1 beats 1/4.
        assertThat(a.pipelines()).hasSize(2);
        assertThat(a.pipelines()).allSatisfy(p -> assertThat(p.stages()).hasSize(4));
        assertValid(a, nodes);
    }

    @Test
    void nodesTooSmallForAnyLayerStayOnStandby() {
        List<NodeProfile> nodes = List.of(node("big", 40, 1), node("tiny1", 0.3, 5), node("tiny2", 0.9, 5));
        Allocation a = LayerAllocator.allocate(nodes, MODEL);
        assertThat(a.activeNodes()).containsExactly("big");
        assertThat(a.standby()).containsExactlyInAnyOrder("tiny1", "tiny2");
    }

    @Test
    void memoryThatCannotHoldOneCopySaysHowMuchMoreIsNeeded() {
        List<NodeProfile> nodes = List.of(node("a", 10, 1), node("b", 10, 1));
        assertThatThrownBy(() -> LayerAllocator.allocate(nodes, MODEL))
                .isInstanceOf(InsufficientMemoryException.class)
                .hasMessageContaining("2 nodes offer 20.00 GiB")
                .hasMessageContaining("needs about 33.00 GiB")
                .hasMessageContaining("add at least 13.00 GiB more memory")
                .satisfies(e -> assertThat(((InsufficientMemoryException) e).missingBytes()).isEqualTo(13 * GIB));
        assertThatThrownBy(() -> LayerAllocator.allocate(List.of(), MODEL))
                .isInstanceOf(InsufficientMemoryException.class).hasMessageContaining("0 nodes offer 0 B");
    }

    @Test
    void layersFollowSpeedWithinAPipeline() {
        // Two nodes of ample memory that cannot each hold the model... a 20 GiB and a 20 GiB node, speeds 3:1.
        Allocation a = LayerAllocator.allocate(List.of(node("fast", 20, 3), node("slow", 20, 1)), MODEL);
        List<Allocation.Stage> stages = a.pipelines().getFirst().stages();
        assertThat(stages).extracting(Allocation.Stage::nodeId).containsExactly("fast", "slow");
        // 3:1 of 32 is 24:8, but the fast node holds at most 19 as the first stage (20 GiB - 0.5 GiB embedding).
        assertThat(stages.get(0).layers().count()).isEqualTo(19);
        assertThat(stages.get(1).layers().count()).isEqualTo(13);
    }

    @Test
    void waterFillingPoursWhatACappedNodeCannotTakeOverTheOthersBySpeed() {
        List<NodeProfile> three = List.of(node("a", 1, 4), node("b", 1, 2), node("c", 1, 2));
        assertThat(LayerAllocator.waterFill(three, new int[] {100, 100, 100}, 16)).containsExactly(8.0, 4.0, 4.0);
        assertThat(LayerAllocator.waterFill(three, new int[] {5, 100, 100}, 16)).containsExactly(5.0, 5.5, 5.5);
        Allocation.Pipeline p = LayerAllocator.split(three, new int[] {5, 100, 100}, 16);
        // 5.5 and 5.5 round to 6 and 5: the tie goes to the earlier stage.
        assertThat(p.stages()).extracting(s -> s.layers().count()).containsExactly(5, 6, 5);
    }

    @Test
    void everyStageGetsAtLeastOneLayerEvenWhenVerySlow() {
        List<NodeProfile> nodes = List.of(node("a", 1, 1000), node("b", 1, 1));
        Allocation.Pipeline p = LayerAllocator.split(nodes, new int[] {3, 3}, 4);
        assertThat(p.stages()).extracting(s -> s.layers().count()).containsExactly(3, 1);
    }

    @Test
    void heterogeneousClustersOf2And5And20NodesGiveValidAllocations() {
        Random random = new Random(7);
        for (int size : new int[] {2, 5, 20}) {
            for (int trial = 0; trial < 30; trial++) {
                List<NodeProfile> nodes = new ArrayList<>();
                for (int i = 0; i < size; i++) {
                    nodes.add(node("n" + size + "-" + i, 0.5 + random.nextDouble() * 24, 0.5 + random.nextDouble() * 4));
                }
                long total = nodes.stream().mapToLong(NodeProfile::memoryBytes).sum();
                try {
                    Allocation a = LayerAllocator.allocate(nodes, MODEL);
                    assertValid(a, nodes);
                } catch (InsufficientMemoryException e) {
                    // Only refused when the memory really is short of one copy plus the waste of rounding to layers.
                    assertThat(total).isLessThan(MODEL.wholeModelBytes() + size * MODEL.bytesPerLayer());
                }
            }
        }
    }

    @Test
    void twentyEqualNodesBuildAsManyPipelinesAsTheyCan() {
        List<NodeProfile> nodes = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            nodes.add(node(String.format("n%02d", i), 12, 1)); // 11 layers first/last, 12 middle: 3 nodes per copy
        }
        Allocation a = LayerAllocator.allocate(nodes, MODEL);
        assertThat(a.pipelines()).hasSize(6); // 36/18 = 2 beats 25/15 and 49/21 is impossible
        assertThat(a.standby()).hasSize(2);
        assertValid(a, nodes);
    }

    @Test
    void theSameNodesInAnyOrderGiveTheSameAllocation() {
        List<NodeProfile> nodes = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            nodes.add(node("n" + i, 6 + (i % 3) * 4, 1 + (i % 2))); // many ties in memory and speed
        }
        Allocation expected = LayerAllocator.allocate(nodes, MODEL);
        Random random = new Random(1);
        for (int i = 0; i < 20; i++) {
            Collections.shuffle(nodes, random);
            assertThat(LayerAllocator.allocate(nodes, MODEL)).isEqualTo(expected);
        }
    }

    @Test
    void choosesThePipelineCountABruteForceSearchFinds() {
        // An independent reference for small clusters: try every assignment of nodes to pipelines or standby and
        // keep the best k²/s. Small model so that the search is quick: 6 layers, 1 unit each, embedding = head = 1.
        ModelFootprint small = new ModelFootprint(6, 100, 0, 100, 100);
        Random random = new Random(3);
        for (int trial = 0; trial < 300; trial++) {
            int n = 2 + random.nextInt(4);
            List<NodeProfile> nodes = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                nodes.add(new NodeProfile("n" + i, 100L * (1 + random.nextInt(8)), 1));
            }
            double best = bruteForceBestScore(nodes, small);
            Allocation a;
            try {
                a = LayerAllocator.allocate(nodes, small);
            } catch (InsufficientMemoryException e) {
                assertThat(best).as("brute force found a pipeline for %s", nodes).isZero();
                continue;
            }
            int k = a.pipelines().size();
            double score = (double) k * k / a.activeNodes().size();
            assertThat(score).as("allocation %s of %s", a, nodes).isEqualTo(best);
            assertValid(a, nodes);
        }
    }

    private static double bruteForceBestScore(List<NodeProfile> nodes, ModelFootprint model) {
        int n = nodes.size();
        int[] label = new int[n]; // 0 = standby, g > 0 = group g
        double best = 0;
        while (true) {
            int groups = 0;
            for (int l : label) {
                groups = Math.max(groups, l);
            }
            boolean ok = groups > 0;
            int used = 0;
            for (int g = 1; g <= groups && ok; g++) {
                List<NodeCapacity> members = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    if (label[i] == g) {
                        members.add(NodeCapacity.of(nodes.get(i), model));
                    }
                }
                used += members.size();
                ok = canBuild(members, model.layers());
            }
            if (ok) {
                best = Math.max(best, (double) groups * groups / used);
            }
            int i = 0;
            while (i < n && ++label[i] > n) {
                label[i++] = 0;
            }
            if (i == n) {
                return best;
            }
        }
    }

    /** Some choice of first and last stage lets the group hold every layer, each stage at least one. */
    private static boolean canBuild(List<NodeCapacity> group, int layers) {
        if (group.isEmpty()) {
            return false;
        }
        if (group.size() == 1) {
            return group.getFirst().whole() >= layers;
        }
        for (int f = 0; f < group.size(); f++) {
            for (int l = 0; l < group.size(); l++) {
                if (f == l || group.get(f).first() < 1 || group.get(l).last() < 1) {
                    continue;
                }
                int sum = group.get(f).first() + group.get(l).last();
                boolean middlesOk = true;
                for (int m = 0; m < group.size(); m++) {
                    if (m != f && m != l) {
                        middlesOk &= group.get(m).middle() >= 1;
                        sum += group.get(m).middle();
                    }
                }
                if (middlesOk && sum >= layers) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Every pipeline tiles the layers, every stage holds 1..capacity layers, and no node serves twice. */
    static void assertValid(Allocation a, List<NodeProfile> nodes) {
        List<String> seen = new ArrayList<>(a.activeNodes());
        seen.addAll(a.standby());
        assertThat(seen).doesNotHaveDuplicates()
                .containsExactlyInAnyOrderElementsOf(nodes.stream().map(NodeProfile::id).toList());
        for (Allocation.Pipeline p : a.pipelines()) {
            for (int i = 0; i < p.stages().size(); i++) {
                Allocation.Stage s = p.stages().get(i);
                NodeProfile n = nodes.stream().filter(x -> x.id().equals(s.nodeId())).findFirst().orElseThrow();
                int cap = NodeCapacity.of(n, MODEL.layers() == s.layers().total() ? MODEL
                        : new ModelFootprint(s.layers().total(), 100, 0, 100, 100))
                        .in(i == 0, i == p.stages().size() - 1);
                assertThat(s.layers().count()).as("stage %s", s).isBetween(1, cap);
            }
        }
    }
}
