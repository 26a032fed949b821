package ai.parallax.server.scheduler;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Optional;
import java.util.Set;

import static ai.parallax.server.scheduler.LayerAllocatorTest.MODEL;
import static ai.parallax.server.scheduler.LayerAllocatorTest.node;
import static org.assertj.core.api.Assertions.assertThat;

class PipelineRepairTest {
    /** Five 20 GiB nodes: a copy (33 GiB) needs two, so two pipelines of two and one node on standby. */
    private static final List<NodeProfile> FIVE = List.of(node("a", 20, 1), node("b", 20, 1), node("c", 20, 1),
            node("d", 20, 1), node("e", 20, 1));

    @Test
    void aBrokenPipelineIsRebuiltFromItsSurvivorAndTheStandbyWhileTheOtherKeepsItsStages() {
        Allocation before = LayerAllocator.allocate(FIVE, MODEL);
        assertThat(before.pipelines()).hasSize(2);
        assertThat(before.standby()).hasSize(1);
        String dead = before.pipelines().get(1).nodeIds().getFirst();
        List<NodeProfile> alive = FIVE.stream().filter(n -> !n.id().equals(dead)).toList();

        Allocation after = PipelineRepair.repair(before, Set.of(1), alive, MODEL).orElseThrow();
        assertThat(after.pipelines().get(0)).as("the healthy pipeline, untouched").isEqualTo(before.pipelines().get(0));
        List<String> rebuilt = after.pipelines().get(1).nodeIds();
        assertThat(rebuilt).doesNotContain(dead).containsAll(List.of(before.pipelines().get(1).nodeIds().get(1),
                before.standby().getFirst()));
        assertThat(after.standby()).isEmpty();
    }

    @Test
    void withoutEnoughFreeNodesForTheBrokenPipelineThereIsNoRepair() {
        List<NodeProfile> four = FIVE.subList(0, 4);
        Allocation before = LayerAllocator.allocate(four, MODEL);
        assertThat(before.pipelines()).hasSize(2);
        String dead = before.pipelines().get(1).nodeIds().getFirst();
        List<NodeProfile> alive = four.stream().filter(n -> !n.id().equals(dead)).toList();
        assertThat(PipelineRepair.repair(before, Set.of(1), alive, MODEL)).isEmpty();
    }

    @Test
    void everyPipelineBrokenOrNoneBrokenIsNoRepair() {
        Allocation before = LayerAllocator.allocate(FIVE, MODEL);
        assertThat(PipelineRepair.repair(before, Set.of(0, 1), FIVE, MODEL)).isEmpty();
        assertThat(PipelineRepair.repair(before, Set.of(), FIVE, MODEL)).isEmpty();
    }

    @Test
    void freeNodesThatBuildMorePipelinesThanBrokeLeaveTheDecisionToAFullAllocation() {
        // Pipeline 1 broke (its node is slow, say); its node plus four fresh big nodes could build several.
        List<NodeProfile> nodes = List.of(node("a", 40, 1), node("b", 40, 1));
        Allocation before = LayerAllocator.allocate(nodes, MODEL);
        assertThat(before.pipelines()).hasSize(2);
        List<NodeProfile> grown = List.of(node("a", 40, 1), node("b", 40, 1), node("c", 40, 1));
        Optional<Allocation> repaired = PipelineRepair.repair(before, Set.of(1), grown, MODEL);
        assertThat(repaired).isEmpty(); // b and c could each hold a copy: two pipelines for one broken
    }
}
