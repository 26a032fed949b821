package ai.parallax.runtime.kv;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class BlockAllocatorTest {

    @Test
    void blocksAreHandedOutOnceUntilReleased() {
        BlockAllocator pool = new BlockAllocator(4, 2);
        Set<Integer> got = new HashSet<>();
        for (int i = 0; i < 4; i++) {
            got.add(pool.allocate());
        }
        assertThat(got).containsExactlyInAnyOrder(0, 1, 2, 3);
        assertThat(pool.allocate()).isEqualTo(-1);
        assertThat(pool.available()).isZero();
        pool.release(2);
        assertThat(pool.available()).isEqualTo(1);
        assertThat(pool.allocate()).isEqualTo(2);
    }

    @Test
    void releasingMoreThanHeldIsABug() {
        BlockAllocator pool = new BlockAllocator(2, 2);
        int b = pool.allocate();
        pool.release(b);
        assertThatThrownBy(() -> pool.release(b)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("block " + b + " released more often than it was held");
    }

    @Test
    void publishedPrefixIsFoundAgainAndShared() {
        BlockAllocator pool = new BlockAllocator(8, 4);
        int[] prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        SequenceBlocks first = new SequenceBlocks(pool);
        first.ensureCapacity(prompt.length);
        first.publishFull(prompt, prompt.length);   // blocks 0 and 1 are full; block 2 holds one token
        assertThat(pool.cachedBlocks()).isEqualTo(2);

        SequenceBlocks second = new SequenceBlocks(pool);
        int reused = second.matchPrefix(prompt, prompt.length);
        assertThat(reused).isEqualTo(8);
        assertThat(second.table()[0]).isEqualTo(first.table()[0]);
        assertThat(second.table()[1]).isEqualTo(first.table()[1]);
        assertThat(pool.referenceCount(first.table()[0])).isEqualTo(2);
        assertThat(pool.prefixHitBlocks()).isEqualTo(2);
    }

    @Test
    void aWholeCachedPromptLeavesItsLastTokenToCompute() {
        BlockAllocator pool = new BlockAllocator(8, 4);
        int[] prompt = {1, 2, 3, 4, 5, 6, 7, 8};
        SequenceBlocks first = new SequenceBlocks(pool);
        first.ensureCapacity(8);
        first.publishFull(prompt, 8);
        SequenceBlocks second = new SequenceBlocks(pool);
        // Both blocks are cached, but the last token must run again for its logits: only the first block is reused.
        assertThat(second.matchPrefix(prompt, 8)).isEqualTo(4);
    }

    @Test
    void differentPrefixesDoNotMatchEvenWithTheSameLastBlock() {
        BlockAllocator pool = new BlockAllocator(8, 2);
        int[] a = {1, 2, 3, 4, 0};
        int[] b = {9, 9, 3, 4, 0};
        SequenceBlocks first = new SequenceBlocks(pool);
        first.ensureCapacity(4);
        first.publishFull(a, 4);
        SequenceBlocks second = new SequenceBlocks(pool);
        assertThat(second.matchPrefix(b, b.length)).isZero();
    }

    @Test
    void releasedPrefixStaysCachedAndIsEvictedLeastRecentlyUsedFirst() {
        BlockAllocator pool = new BlockAllocator(3, 2);
        int[] x = {1, 2, 0};
        int[] y = {3, 4, 0};
        SequenceBlocks sx = new SequenceBlocks(pool);
        sx.ensureCapacity(2);
        sx.publishFull(x, 2);
        SequenceBlocks sy = new SequenceBlocks(pool);
        sy.ensureCapacity(2);
        sy.publishFull(y, 2);
        int blockX = sx.table()[0];
        int blockY = sy.table()[0];
        sx.releaseAll();   // x released first: least recently used
        sy.releaseAll();
        assertThat(pool.inUse()).isZero();
        assertThat(pool.available()).isEqualTo(3);
        assertThat(pool.cachedBlocks()).isEqualTo(2);

        int fresh = pool.allocate();          // the never-used block comes first
        assertThat(fresh).isNotIn(blockX, blockY);
        assertThat(pool.allocate()).isEqualTo(blockX); // then the LRU cached block, which forgets x
        assertThat(pool.evictions()).isEqualTo(1);
        assertThat(new SequenceBlocks(pool).matchPrefix(x, 3)).isZero();
        SequenceBlocks again = new SequenceBlocks(pool);
        assertThat(again.matchPrefix(y, 3)).isEqualTo(2);
        assertThat(again.table()[0]).isEqualTo(blockY);
    }

    @Test
    void randomWorkloadKeepsTheBooksBalanced() {
        Random random = new Random(42);
        BlockAllocator pool = new BlockAllocator(64, 4);
        SequenceBlocks[] sequences = new SequenceBlocks[10];
        int[][] tokens = new int[10][];
        for (int round = 0; round < 2000; round++) {
            int i = random.nextInt(sequences.length);
            if (sequences[i] == null) {
                sequences[i] = new SequenceBlocks(pool);
                tokens[i] = new int[40];
                for (int t = 0; t < 40; t++) {
                    tokens[i][t] = random.nextInt(3); // few distinct prefixes, so sharing happens
                }
                int len = 1 + random.nextInt(39);
                int matched = sequences[i].matchPrefix(tokens[i], len);
                if (!sequences[i].ensureCapacity(len)) {
                    sequences[i].releaseAll();
                    sequences[i] = null;
                    continue;
                }
                sequences[i].publishFull(tokens[i], len);
                assertThat(matched).isLessThan(len);
            } else {
                sequences[i].releaseAll();
                sequences[i] = null;
            }
            int held = 0;
            Set<Integer> distinct = new HashSet<>();
            for (SequenceBlocks s : sequences) {
                if (s != null) {
                    held += s.count();
                    for (int b = 0; b < s.count(); b++) {
                        distinct.add(s.table()[b]);
                    }
                }
            }
            int refs = 0;
            for (int b = 0; b < 64; b++) {
                refs += pool.referenceCount(b);
            }
            assertThat(refs).isEqualTo(held);
            assertThat(pool.inUse()).isEqualTo(distinct.size());
        }
    }
}
