package ai.parallax.models.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** Every case of each reference folder's expected_tokens.json, recorded from Hugging Face tokenizers. */
class TokenizerReferenceCasesTest {

    @TestFactory
    Stream<DynamicTest> encodesAndDecodesEveryRecordedCase() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (String model : List.of(ReferenceModels.STORIES, ReferenceModels.QWEN3, ReferenceModels.LLAMA3)) {
            JsonNode cases = new ObjectMapper().readTree(
                    ReferenceModels.dir(model).resolve("expected_tokens.json").toFile()).get("cases");
            assertThat(cases.size()).as("cases in %s", model).isGreaterThanOrEqualTo(20);
            for (JsonNode c : cases) {
                String text = c.get("text").asText();
                boolean special = c.get("add_special_tokens").asBoolean();
                int[] ids = new int[c.get("ids").size()];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = c.get("ids").get(i).asInt();
                }
                String decoded = c.get("decoded").asText();
                tests.add(DynamicTest.dynamicTest(model + " " + ReferenceModels.escape(text) + " special=" + special,
                        () -> {
                            Tokenizer tokenizer = ReferenceModels.tokenizer(model);
                            assertThat(tokenizer.encode(text, special)).as("ids").containsExactly(ids);
                            assertThat(tokenizer.decode(ids, false)).as("decoded").isEqualTo(decoded);
                        }));
            }
        }
        return tests.stream();
    }

    @Test
    void spotChecksFromTheReadmes() {
        assertThat(ReferenceModels.tokenizer(ReferenceModels.QWEN3).encode("Hello", true)).containsExactly(9707);
        assertThat(ReferenceModels.tokenizer(ReferenceModels.LLAMA3).encode("Hello", true)).containsExactly(128000, 9906);
        assertThat(ReferenceModels.tokenizer(ReferenceModels.LLAMA3).encode("Hello", false)).containsExactly(9906);
    }

    @Test
    void bosAndEosComeFromTokenizerConfig() {
        Tokenizer llama = ReferenceModels.tokenizer(ReferenceModels.LLAMA3);
        assertThat(llama.bosTokenId()).hasValue(128000);
        assertThat(llama.eosTokenId()).hasValue(llama.tokenId("<|eot_id|>").getAsInt());
        Tokenizer qwen = ReferenceModels.tokenizer(ReferenceModels.QWEN3);
        assertThat(qwen.bosTokenId()).isEmpty();
        assertThat(qwen.eosTokenId()).hasValue(151645);
        Tokenizer stories = ReferenceModels.tokenizer(ReferenceModels.STORIES);
        assertThat(stories.bosTokenId()).hasValue(1);
        assertThat(stories.eosTokenId()).hasValue(2);
    }
}
