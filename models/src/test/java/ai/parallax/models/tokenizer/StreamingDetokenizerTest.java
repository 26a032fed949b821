package ai.parallax.models.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class StreamingDetokenizerTest {

    @ParameterizedTest
    @ValueSource(strings = {ReferenceModels.STORIES, ReferenceModels.QWEN3, ReferenceModels.LLAMA3})
    void chunksOfEncodedTextConcatenateToDecodeAndAreWholeCharacters(String model) {
        Tokenizer tokenizer = ReferenceModels.tokenizer(model);
        RandomText text = new RandomText(71);
        for (int n = 0; n < 600; n++) {
            int[] ids = tokenizer.encode(text.next(), true);
            for (boolean skip : new boolean[] {false, true}) {
                String full = tokenizer.decode(ids, skip);
                List<String> chunks = stream(tokenizer, ids, skip);
                assertThat(String.join("", chunks)).as("ids %s", java.util.Arrays.toString(ids)).isEqualTo(full);
                for (String chunk : chunks) {
                    assertWholeCharacters(chunk, ids);
                    if (full.indexOf('\uFFFD') < 0) {
                        assertThat(chunk).as("chunk of %s", java.util.Arrays.toString(ids)).doesNotContain("\uFFFD");
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {ReferenceModels.STORIES, ReferenceModels.QWEN3, ReferenceModels.LLAMA3})
    void chunksOfRandomIdsConcatenateToDecodeEvenForInvalidUtf8(String model) {
        Tokenizer tokenizer = ReferenceModels.tokenizer(model);
        RandomText random = new RandomText(72);
        for (int n = 0; n < 1_000; n++) {
            int[] ids = TokenizerMatchesHuggingFaceTest.randomIds(tokenizer, random, 1 + random.nextInt(16));
            boolean skip = n % 2 == 0;
            List<String> chunks = stream(tokenizer, ids, skip);
            assertThat(String.join("", chunks)).as("ids %s", java.util.Arrays.toString(ids))
                    .isEqualTo(tokenizer.decode(ids, skip));
            chunks.forEach(chunk -> assertWholeCharacters(chunk, ids));
        }
    }

    @Test
    void byteLevelTokensThatSplitAnEmojiEmitNothingUntilItIsComplete() {
        Tokenizer llama = ReferenceModels.tokenizer(ReferenceModels.LLAMA3);
        int[] ids = llama.encode("🤖", false);
        assertThat(ids.length).as("the emoji takes several byte-level tokens").isGreaterThan(1);
        StreamingDetokenizer detokenizer = llama.streamingDetokenizer();
        for (int i = 0; i < ids.length - 1; i++) {
            assertThat(detokenizer.next(ids[i])).isEmpty();
        }
        assertThat(detokenizer.next(ids[ids.length - 1])).isEqualTo("🤖");
        assertThat(detokenizer.flush()).isEmpty();
    }

    @Test
    void byteFallbackTokensAreHeldUntilTheRunEnds() {
        Tokenizer stories = ReferenceModels.tokenizer(ReferenceModels.STORIES);
        int[] ids = stories.encode("中 a", false); // ▁, <0xE4>, <0xB8>, <0xAD>, ▁a
        StreamingDetokenizer detokenizer = stories.streamingDetokenizer();
        StringBuilder seen = new StringBuilder();
        for (int i = 0; i < ids.length - 1; i++) {
            String chunk = detokenizer.next(ids[i]);
            assertThat(chunk).doesNotContain("\uFFFD");
            seen.append(chunk);
        }
        assertThat(seen.toString()).as("the run of byte tokens is still open").isEmpty();
        assertThat(detokenizer.next(ids[ids.length - 1]) + detokenizer.flush()).isEqualTo("中 a");
    }

    @Test
    void sentencePieceStripsTheLeadingSpaceOnlyAtTheStart() {
        Tokenizer stories = ReferenceModels.tokenizer(ReferenceModels.STORIES);
        int[] ids = stories.encode("Once upon a time", false);
        List<String> chunks = stream(stories, ids, false);
        assertThat(chunks.get(0)).doesNotStartWith(" ");
        assertThat(String.join("", chunks)).isEqualTo("Once upon a time");
        assertThat(chunks.stream().filter(c -> c.startsWith(" ")).count()).as("later words keep their space")
                .isEqualTo(3);
    }

    @Test
    void specialTokensAreSkippedOnRequest() {
        Tokenizer qwen = ReferenceModels.tokenizer(ReferenceModels.QWEN3);
        int[] ids = qwen.encode("<|im_start|>user\nHi<|im_end|>", false);
        assertThat(String.join("", stream(qwen, ids, true))).isEqualTo("user\nHi");
        assertThat(String.join("", stream(qwen, ids, false))).isEqualTo("<|im_start|>user\nHi<|im_end|>");
    }

    private static List<String> stream(Tokenizer tokenizer, int[] ids, boolean skipSpecialTokens) {
        StreamingDetokenizer detokenizer = tokenizer.streamingDetokenizer(skipSpecialTokens);
        List<String> chunks = new ArrayList<>();
        for (int id : ids) {
            chunks.add(detokenizer.next(id));
        }
        chunks.add(detokenizer.flush());
        return chunks;
    }

    private static void assertWholeCharacters(String chunk, int[] ids) {
        for (int i = 0; i < chunk.length(); i++) {
            char c = chunk.charAt(i);
            if (Character.isHighSurrogate(c)) {
                assertThat(i + 1 < chunk.length() && Character.isLowSurrogate(chunk.charAt(i + 1)))
                        .as("paired high surrogate in chunk %s of %s", ReferenceModels.escape(chunk),
                                java.util.Arrays.toString(ids)).isTrue();
                i++;
            } else {
                assertThat(Character.isLowSurrogate(c)).as("lone low surrogate in chunk of %s",
                        java.util.Arrays.toString(ids)).isFalse();
            }
        }
    }
}
