package ai.parallax.server.scheduler;

import org.junit.jupiter.api.Test;

import java.util.List;

import static ai.parallax.server.scheduler.LayerAllocatorTest.MODEL;
import static ai.parallax.server.scheduler.LayerAllocatorTest.node;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RebalancePolicyTest {
    final RebalancePolicy policy = new RebalancePolicy(0.25);

    @Test
    void firstAllocationHappensOnceTheModelFits() {
        assertThatThrownBy(() -> policy.decide(null, List.of(node("a", 20, 1)), MODEL))
                .isInstanceOf(InsufficientMemoryException.class);
        var d = policy.decide(null, List.of(node("a", 20, 1), node("b", 20, 1)), MODEL).orElseThrow();
        assertThat(d.reason()).isEqualTo("initial allocation over 2 nodes");
        assertThat(d.allocation().activeNodes()).containsExactly("a", "b");
    }

    @Test
    void aNodeLeavingBreaksItsPipelineAndTheRestAreReallocated() {
        List<NodeProfile> three = List.of(node("a", 12, 1), node("b", 12, 1), node("c", 12, 1));
        Allocation current = LayerAllocator.allocate(three, MODEL);
        assertThat(current.activeNodes()).hasSize(3);
        List<NodeProfile> two = List.of(node("a", 20, 1), node("c", 20, 1));
        var d = policy.decide(current, two, MODEL).orElseThrow();
        assertThat(d.reason()).isEqualTo("node b left; its pipeline is broken");
        assertThat(d.allocation().activeNodes()).containsExactly("a", "c");
    }

    @Test
    void aJoiningNodeStaysOnStandbyUnlessItHelpsEnough() {
        List<NodeProfile> two = List.of(node("a", 20, 1), node("b", 20, 1));
        Allocation current = LayerAllocator.allocate(two, MODEL);
        // A small slow node would only make a third hop: no change.
        List<NodeProfile> withSmall = List.of(node("a", 20, 1), node("b", 20, 1), node("c", 3, 1));
        assertThat(policy.decide(current, withSmall, MODEL)).isEmpty();
        // A node that holds a whole copy builds a second pipeline: re-allocate.
        List<NodeProfile> withBig = List.of(node("a", 20, 1), node("b", 20, 1), node("c", 40, 1));
        var d = policy.decide(current, withBig, MODEL).orElseThrow();
        assertThat(d.reason()).isEqualTo("the nodes now build 2 pipelines instead of 1");
    }

    @Test
    void aMuchFasterNodeTriggersRebalancingPastTheThreshold() {
        List<NodeProfile> before = List.of(node("a", 30, 1), node("b", 30, 1));
        Allocation current = LayerAllocator.allocate(before, MODEL);
        // Node b got measured 4× faster (e.g. it re-joined with a better accelerator): its stage should grow.
        List<NodeProfile> after = List.of(node("a", 30, 1), node("b", 30, 4));
        var d = policy.decide(current, after, MODEL).orElseThrow();
        assertThat(d.reason()).startsWith("the slowest stage would take");
        // Below the threshold nothing moves.
        List<NodeProfile> slightly = List.of(node("a", 30, 1), node("b", 30, 1.1));
        assertThat(policy.decide(current, slightly, MODEL)).isEmpty();
    }
}
