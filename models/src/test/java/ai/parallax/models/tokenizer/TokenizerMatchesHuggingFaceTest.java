package ai.parallax.models.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.util.ArrayList;
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
        try (HuggingFaceTokenizer reference = HuggingFaceTokenizer.newInstance(
                ReferenceModels.dir(model).resolve("tokenizer.json"), Map.of())) {
            RandomText text = new RandomText(seed);
            List<String> failures = new ArrayList<>(
                    HuggingFaceComparison.mismatches(ours, reference, text.strings(STRINGS_PER_MODEL)));
            // Random ids, so byte tokens combine into invalid UTF-8 and special tokens land anywhere.
            for (int n = 0; n < 300; n++) {
                int[] ids = randomIds(ours, text, 1 + text.nextInt(12));
                failures.addAll(HuggingFaceComparison.decodeMismatch(ours, reference, ids, n % 2 == 0, ""));
            }
            assertThat(failures).as(HuggingFaceComparison.describe(model, failures)).isEmpty();
        }
    }

    /** Mostly byte tokens (the first 256 byte-level tokens, or the <0xNN> tokens), some anything, some special. */
    static int[] randomIds(Tokenizer tokenizer, RandomText random, int length) {
        int[] ids = new int[length];
        int firstByteToken = tokenizer.tokenId("<0x00>").orElse(-1);
        List<AddedToken> added = tokenizer.addedTokens();
        for (int i = 0; i < length; i++) {
            int kind = random.nextInt(10);
            if (kind < 5) {
                ids[i] = firstByteToken >= 0 ? firstByteToken + random.nextInt(256) : random.nextInt(256);
            } else if (kind < 9) {
                ids[i] = random.nextInt(tokenizer.vocabularySize() - added.size());
            } else {
                ids[i] = added.get(random.nextInt(added.size())).id();
            }
        }
        return ids;
    }
}
