package ai.parallax.models.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerLoadingTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void missingTokenizerJsonIsReportedWithItsPath() {
        assertThatThrownBy(() -> Tokenizer.load(dir)).isInstanceOf(NoSuchFileException.class)
                .hasMessageContaining(dir.resolve("tokenizer.json").toString());
    }

    @Test
    void unsupportedModelTypeIsNamed() throws IOException {
        ObjectNode json = storiesJson();
        ObjectNode model = JSON.createObjectNode().put("type", "WordPiece").put("unk_token", "[UNK]");
        model.putObject("vocab").put("[UNK]", 0).put("a", 1);
        json.set("model", model);
        Files.writeString(dir.resolve("tokenizer.json"), json.toString());
        assertThatThrownBy(() -> Tokenizer.load(dir)).isInstanceOf(UnsupportedTokenizerException.class)
                .hasMessageContaining("unsupported model type 'WordPiece'");
    }

    @Test
    void unsupportedNormalizerIsNamed() throws IOException {
        ObjectNode json = storiesJson();
        json.putObject("normalizer").put("type", "Precompiled").put("precompiled_charsmap", "AAAA");
        Files.writeString(dir.resolve("tokenizer.json"), json.toString());
        assertThatThrownBy(() -> Tokenizer.load(dir)).isInstanceOf(UnsupportedTokenizerException.class)
                .hasMessageContaining("normalizer type 'Precompiled'");
    }

    @Test
    void specialTokenNamesMayBeAddedTokenObjects() throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"), storiesJson().toString());
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false}, "eos_token": "</s>"}
                """);
        Tokenizer tokenizer = Tokenizer.load(dir);
        assertThat(tokenizer.bosTokenId()).hasValue(1);
        assertThat(tokenizer.eosTokenId()).hasValue(2);

        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": \"<|eot_id|>\"}");
        assertThatThrownBy(() -> Tokenizer.load(dir)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("eos_token '<|eot_id|>'");
    }

    @Test
    void loadsFromTheTokenizerFileItselfAndRejectsUnknownIds() throws IOException {
        Tokenizer stories = Tokenizer.load(ReferenceModels.dir(ReferenceModels.STORIES).resolve("tokenizer.json"));
        assertThat(stories.vocabularySize()).isEqualTo(512);
        assertThat(stories.token(1)).isEqualTo("<s>");
        assertThat(stories.isSpecial(1)).isTrue();
        assertThat(stories.isSpecial(300)).isFalse();
        assertThatThrownBy(() -> stories.decode(new int[] {5, 512}, false))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("token id 512");
    }

    /**
     * Added tokens with every matching option, checked against Hugging Face tokenizers on text built to sit them
     * next to spaces, letters and each other.
     */
    @Test
    void addedTokenOptionsMatchHuggingFace() throws IOException {
        ObjectNode json = storiesJson();
        ArrayNode added = (ArrayNode) json.get("added_tokens");
        addToken(added, 512, "[MASK]", true, false, true, false, false);
        addToken(added, 513, "<sep>", true, false, false, true, false);
        addToken(added, 514, "cat", false, true, false, false, false);
        addToken(added, 515, "dog", false, false, false, false, true);
        addToken(added, 516, "<both>", true, false, true, true, false);
        addToken(added, 517, "<sep>x", false, false, false, false, false);
        Path file = dir.resolve("tokenizer.json");
        Files.writeString(file, json.toString());
        Tokenizer ours = Tokenizer.load(dir);
        String[] parts = {"[MASK]", "<sep>", "<sep>x", "cat", "cats", "_cat", "dog", "hotdog", "<both>", " ", "  ",
            "\n", "\t", "x", "1", "é", "cat!", "中"};
        List<String> failures = new ArrayList<>();
        try (HuggingFaceTokenizer reference = HuggingFaceTokenizer.newInstance(file, Map.of())) {
            RandomText random = new RandomText(5);
            for (int n = 0; n < 1_500; n++) {
                StringBuilder sb = new StringBuilder();
                for (int k = 1 + random.nextInt(7); k > 0; k--) {
                    sb.append(parts[random.nextInt(parts.length)]);
                }
                String s = sb.toString();
                int[] expected = Arrays.stream(reference.encode(s, n % 2 == 0, false).getIds())
                        .mapToInt(Math::toIntExact).toArray();
                int[] actual = ours.encode(s, n % 2 == 0);
                if (!Arrays.equals(expected, actual)) {
                    failures.add(ReferenceModels.escape(s) + "\n  HF:   " + Arrays.toString(expected) + "\n  ours: "
                            + Arrays.toString(actual) + "\n  first difference at " + Arrays.mismatch(expected, actual));
                }
                String hf = reference.decode(Arrays.stream(expected).asLongStream().toArray(), true);
                if (!hf.equals(ours.decode(expected, true))) {
                    failures.add("decode " + Arrays.toString(expected) + " HF " + ReferenceModels.escape(hf)
                            + " ours " + ReferenceModels.escape(ours.decode(expected, true)));
                }
            }
        }
        assertThat(failures).as("%d mismatches:%n%s", failures.size(),
                String.join("\n", failures.subList(0, Math.min(8, failures.size())))).isEmpty();
    }

    private static void addToken(ArrayNode added, int id, String content, boolean special, boolean singleWord,
            boolean lstrip, boolean rstrip, boolean normalized) {
        added.addObject().put("id", id).put("content", content).put("single_word", singleWord)
                .put("lstrip", lstrip).put("rstrip", rstrip).put("normalized", normalized).put("special", special);
    }

    private static ObjectNode storiesJson() throws IOException {
        return (ObjectNode) JSON.readTree(ReferenceModels.dir(ReferenceModels.STORIES).resolve("tokenizer.json")
                .toFile());
    }
}
