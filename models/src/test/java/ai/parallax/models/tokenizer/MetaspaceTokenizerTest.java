package ai.parallax.models.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Metaspace pre-tokenizer and decoder that newer SentencePiece conversions (Mistral, Llama 2 with
 * {@code legacy=false}) use instead of the Prepend/Replace normalizer: stories260K's vocabulary rewired to each
 * Metaspace variant and compared with Hugging Face tokenizers.
 */
class MetaspaceTokenizerTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @ParameterizedTest(name = "prepend_scheme={0}, split={1}, metaspace decoder={2}")
    @CsvSource({"first, false, false", "first, true, true", "always, true, true", "always, false, false",
        "never, true, true"})
    void metaspaceVariantsMatchHuggingFace(String scheme, boolean split, boolean metaspaceDecoder) throws IOException {
        ObjectNode json = (ObjectNode) JSON.readTree(
                ReferenceModels.dir(ReferenceModels.STORIES).resolve("tokenizer.json").toFile());
        json.putNull("normalizer");
        json.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", "▁")
                .put("prepend_scheme", scheme).put("split", split);
        if (metaspaceDecoder) {
            json.putObject("decoder").put("type", "Metaspace").put("replacement", "▁")
                    .put("prepend_scheme", scheme).put("split", split);
        }
        Path file = dir.resolve("tokenizer.json");
        Files.writeString(file, json.toString());
        Tokenizer ours = Tokenizer.load(file);
        List<String> texts = new RandomText(9).strings(800);
        try (HuggingFaceTokenizer reference = HuggingFaceTokenizer.newInstance(file, Map.of())) {
            List<String> failures = HuggingFaceComparison.mismatches(ours, reference, texts);
            assertThat(failures).as(HuggingFaceComparison.describe(scheme, failures)).isEmpty();
        }
        // Streaming gives the same text as decode for this decoder too.
        for (String text : texts.subList(0, 200)) {
            int[] ids = ours.encode(text, true);
            StreamingDetokenizer detokenizer = ours.streamingDetokenizer();
            StringBuilder streamed = new StringBuilder();
            for (int id : ids) {
                streamed.append(detokenizer.next(id));
            }
            streamed.append(detokenizer.flush());
            assertThat(streamed.toString()).isEqualTo(ours.decode(ids, false));
        }
    }
}
