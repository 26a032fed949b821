package ai.parallax.server.scheduler;

import org.junit.jupiter.api.Test;

import java.util.List;

import static ai.parallax.server.scheduler.LayerAllocatorTest.GIB;
import static ai.parallax.server.scheduler.LayerAllocatorTest.node;
import static org.assertj.core.api.Assertions.assertThat;

class CarriedEnginesTest {
    /** 8 layers of 1 GiB weights and 1 GiB of KV reserve each: 16 GiB a copy, 24 GiB with a second engine's KV. */
    private static final ModelFootprint MODEL = new ModelFootprint(8, GIB, GIB, GIB / 2, GIB / 2);

    @Test
    void enginesPerPipelineSpreadsEveryBusyEngineOverThePipelines() {
        assertThat(CarriedEngines.enginesPerPipeline(0, 2)).isEqualTo(1);
        assertThat(CarriedEngines.enginesPerPipeline(2, 2)).isEqualTo(1);
        assertThat(CarriedEngines.enginesPerPipeline(2, 1)).isEqualTo(2);
        assertThat(CarriedEngines.enginesPerPipeline(3, 2)).isEqualTo(2);
        assertThat(CarriedEngines.enginesPerPipeline(5, 2)).isEqualTo(3);
    }

    @Test
    void anAllocationWithoutCarriedEnginesIsKept() {
        List<NodeProfile> nodes = List.of(node("a", 20, 1), node("b", 20, 1));
        Allocation proposed = LayerAllocator.allocate(nodes, MODEL);
        CarriedEngines.Sized sized = CarriedEngines.size(proposed, nodes, MODEL, 1);
        assertThat(sized.allocation()).isSameAs(proposed);
        assertThat(sized.enginesPerPipeline()).isEqualTo(1);
        assertThat(sized.kvCounted()).isTrue();
    }

    @Test
    void stagesThatCarryASecondEngineGetRoomForItsKv() {
        // Node a holds one copy (17 GiB with embedding and head) alone; carrying a second engine needs 8 GiB more
        // KV, so the pipeline must spread over a and c.
        List<NodeProfile> left = List.of(node("a", 20, 1), node("c", 12, 1));
        Allocation shrunk = LayerAllocator.allocate(left, MODEL);
        assertThat(shrunk.pipelines()).as("one copy fits on a alone, so c waits on standby").hasSize(1);
        CarriedEngines.Sized carrying = CarriedEngines.size(shrunk, left, MODEL, 2);
        assertThat(carrying.enginesPerPipeline()).isEqualTo(2);
        assertThat(carrying.kvCounted()).isTrue();
        assertThat(carrying.allocation().activeNodes()).as("the pipeline now needs both nodes for 2 engines' KV")
                .containsExactlyInAnyOrder("a", "c");
        long kvLayers = 0;
        for (Allocation.Stage s : carrying.allocation().pipelines().getFirst().stages()) {
            NodeProfile n = left.stream().filter(p -> p.id().equals(s.nodeId())).findFirst().orElseThrow();
            long held = (long) s.layers().count() * (MODEL.layerBytes() + 2 * MODEL.kvBytesPerLayer())
                    + (s.layers().isFirst() ? MODEL.embeddingBytes() : 0) + (s.layers().isLast() ? MODEL.headBytes()
                    : 0);
            assertThat(held).as("stage on %s", n.id()).isLessThanOrEqualTo(n.memoryBytes());
            kvLayers += s.layers().count();
        }
        assertThat(kvLayers).isEqualTo(8);
    }

    @Test
    void whenTheNodesCannotHoldTheCarriedKvTheProposedAllocationCarriesAnywayAndSaysSo() {
        List<NodeProfile> one = List.of(node("a", 20, 1)); // 17 GiB fits, 25 GiB with a second engine does not
        Allocation proposed = LayerAllocator.allocate(one, MODEL);
        CarriedEngines.Sized sized = CarriedEngines.size(proposed, one, MODEL, 2);
        assertThat(sized.allocation()).isSameAs(proposed);
        assertThat(sized.enginesPerPipeline()).isEqualTo(2);
        assertThat(sized.kvCounted()).isFalse();
    }
}
