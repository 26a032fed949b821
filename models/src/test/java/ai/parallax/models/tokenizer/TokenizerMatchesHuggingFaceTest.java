package ai.parallax.models.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Property tests against the Rust Hugging Face tokenizers library (through DJL's JNI binding): the same ids and the
 * same decoded text for thousands of generated strings, and the same text for random id sequences, including ones
 * that are not valid UTF-8.
 */
class TokenizerMatchesHuggingFaceTest {
    private static final int STRINGS_PER_MODEL = 2_000;

    @Test
    void qwen3MatchesHuggingFace() throws IOException {
        assertMatches(ReferenceModels.QWEN3, 31);
    }

    @Test
    void llama31MatchesHuggingFace() throws IOException {
        assertMatches(ReferenceModels.LLAMA3, 32);
    }

    @Test
    void stories260KMatchesHuggingFace() throws IOException {
        assertMatches(ReferenceModels.STORIES, 33);
    }

    private static void assertMatches(String model, long seed) throws IOException {
        Tokenizer ours = ReferenceModels.tokenizer(model);
        List<String> failures = new ArrayList<>();
        try (HuggingFaceTokenizer reference = HuggingFaceTokenizer.newInstance(
                ReferenceModels.dir(model).resolve("tokenizer.json"), Map.of("truncation", "false"))) {
            RandomText text = new RandomText(seed);
            for (int n = 0; n < STRINGS_PER_MODEL; n++) {
                String s = text.next();
                boolean special = n % 2 == 0;
                int[] expected = toInts(reference.encode(s, special, false).getIds());
                int[] actual = ours.encode(s, special);
                if (!Arrays.equals(expected, actual)) {
                    failures.add("encode(" + ReferenceModels.escape(s) + ", addSpecialTokens=" + special + ")\n"
                            + "  HF:   " + Arrays.toString(expected) + "\n  ours: " + Arrays.toString(actual)
                            + "\n  first difference at index " + Arrays.mismatch(expected, actual));
                    continue;
                }
                for (boolean skip : new boolean[] {false, true}) {
                    String hf = reference.decode(toLongs(expected), skip);
                    String mine = ours.decode(expected, skip);
                    if (!hf.equals(mine)) {
                        failures.add("decode(" + Arrays.toString(expected) + ", skipSpecialTokens=" + skip
                                + ") of " + ReferenceModels.escape(s) + "\n  HF:   " + ReferenceModels.escape(hf)
                                + "\n  ours: " + ReferenceModels.escape(mine));
                    }
                }
            }
            // Random ids, so byte tokens combine into invalid UTF-8 and special tokens land anywhere.
            for (int n = 0; n < 300; n++) {
                int[] ids = randomIds(ours, text, 1 + text.nextInt(12));
                String hf = reference.decode(toLongs(ids), n % 2 == 0);
                String mine = ours.decode(ids, n % 2 == 0);
                if (!hf.equals(mine)) {
                    failures.add("decode(" + Arrays.toString(ids) + ")\n  HF:   " + ReferenceModels.escape(hf)
                            + "\n  ours: " + ReferenceModels.escape(mine));
                }
            }
        }
        assertThat(failures).as("%s: %d mismatches, the first ones:%n%s", model, failures.size(),
                String.join("\n", failures.subList(0, Math.min(8, failures.size())))).isEmpty();
    }

    /** Mostly byte tokens (the first 256 byte-level tokens, or the <0xNN> tokens), some anything, some special. */
    static int[] randomIds(Tokenizer tokenizer, RandomText random, int length) {
        int[] ids = new int[length];
        int firstByteToken = tokenizer.tokenId("<0x00>").orElse(-1);
        for (int i = 0; i < length; i++) {
            int kind = random.nextInt(10);
            if (kind < 5) {
                ids[i] = firstByteToken >= 0 ? firstByteToken + random.nextInt(256) : random.nextInt(256);
            } else if (kind < 9) {
                ids[i] = random.nextInt(tokenizer.vocabularySize() - tokenizer.addedTokens().size());
            } else {
                List<AddedToken> added = tokenizer.addedTokens();
                ids[i] = added.get(random.nextInt(added.size())).id();
            }
        }
        return ids;
    }

    private static int[] toInts(long[] ids) {
        return Arrays.stream(ids).mapToInt(Math::toIntExact).toArray();
    }

    private static long[] toLongs(int[] ids) {
        return Arrays.stream(ids).asLongStream().toArray();
    }
}
