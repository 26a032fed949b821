package ai.parallax.runtime.kv;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class StateSlotAllocatorTest {

    @Test
    void eachSequenceKeepsOneSlotUntilItReleasesIt() {
        StateSlotAllocator slots = new StateSlotAllocator(3);
        assertThat(slots.slotOf(10)).isZero();
        assertThat(slots.slotOf(11)).isEqualTo(1);
        assertThat(slots.slotOf(10)).as("asked again").isZero();
        assertThat(slots.inUse()).isEqualTo(2);

        slots.release(10);
        slots.release(10);
        assertThat(slots.inUse()).isEqualTo(1);
        assertThat(slots.slotOf(12)).as("the freed slot is reused").isZero();
        assertThat(slots.slotOf(13)).isEqualTo(2);
    }

    @Test
    void moreSequencesThanSlotsIsRefusedNamingTheLimit() {
        StateSlotAllocator slots = new StateSlotAllocator(1);
        slots.slotOf(1);
        assertThatThrownBy(() -> slots.slotOf(2)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("all 1 recurrent state slots").hasMessageContaining("sequence 2");
    }

    @Test
    void allocatorWithoutPrefixCachingNeverSharesABlock() {
        BlockAllocator allocator = new BlockAllocator(4, 2, false);
        int[] tokens = {5, 6, 7, 8};
        int block = allocator.allocate();
        long hash = allocator.chain(BlockAllocator.ROOT_HASH, tokens, 0);
        allocator.publish(block, hash, tokens, 0);
        assertThat(allocator.lookup(hash, tokens, 0)).isEqualTo(-1);
        assertThat(allocator.cachedBlocks()).isZero();

        BlockAllocator sharing = new BlockAllocator(4, 2);
        int shared = sharing.allocate();
        sharing.publish(shared, hash, tokens, 0);
        assertThat(sharing.lookup(hash, tokens, 0)).as("the default shares it").isEqualTo(shared);
    }
}
