package ai.parallax.kernels.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

class WeightPrefetchTest {

    @Test
    void readsOneIntEveryLineOfEachRowSpanAndStaysInsideTheSegment() {
        try (Arena arena = Arena.ofConfined()) {
            // 3 rows of 200 bytes; the span [8, 8 + 190) of rows 1 and 2 ends 2 bytes before the segment does.
            MemorySegment w = arena.allocate(600, 64);
            for (int i = 0; i < 150; i++) {
                w.setAtIndex(ValueLayout.JAVA_INT, i, i * 0x9E3779B1);
            }
            int expected = 0;
            for (int r = 1; r < 3; r++) {
                for (long o = 0; o + 4 <= 190; o += 64) {
                    expected ^= w.get(ValueLayout.JAVA_INT_UNALIGNED, 200L * r + 8 + o);
                }
            }
            assertEquals(expected, WeightPrefetch.rows(w, 200, 1, 3, 8, 190));
            // A span shorter than an int (the last elements of a row) reads nothing, at the segment's very end too.
            assertEquals(0, WeightPrefetch.rows(w, 200, 2, 3, 198, 2));
        }
    }
}
