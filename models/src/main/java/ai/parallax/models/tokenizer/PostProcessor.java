package ai.parallax.models.tokenizer;

import java.util.List;
import java.util.stream.IntStream;

/**
 * The tokenizer.json {@code post_processor}, applied to a single sequence when special tokens are requested.
 * Offsets are not tracked, so processors that only adjust offsets ({@code ByteLevel}) leave the ids unchanged.
 */
sealed interface PostProcessor {
    int[] process(int[] ids);

    record OffsetsOnly() implements PostProcessor {
        @Override
        public int[] process(int[] ids) {
            return ids;
        }
    }

    /**
     * The {@code single} template: the input sequence ({@code null} entry) surrounded by special tokens, each of
     * which may stand for several ids.
     */
    record Template(List<int[]> single) implements PostProcessor {
        @Override
        public int[] process(int[] ids) {
            return single.stream().flatMapToInt(part -> IntStream.of(part == null ? ids : part)).toArray();
        }
    }

    record Sequence(List<PostProcessor> processors) implements PostProcessor {
        @Override
        public int[] process(int[] ids) {
            for (PostProcessor p : processors) {
                ids = p.process(ids);
            }
            return ids;
        }
    }
}
