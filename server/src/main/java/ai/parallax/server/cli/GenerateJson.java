package ai.parallax.server.cli;

import ai.parallax.models.tokenizer.Tokenizer;
import ai.parallax.runtime.GenerationResult;
import ai.parallax.runtime.LocalModel;
import ai.parallax.runtime.sampling.TokenLogprob;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.PrintWriter;
import java.util.Locale;

/** The {@code generate --json} document, and the plain-text listing of {@code --logprobs}. */
final class GenerateJson {
    private static final ObjectMapper JSON = new ObjectMapper();

    private GenerateJson() {
    }

    static String render(LocalModel local, GenerationResult result, long seed) {
        ObjectNode root = JSON.createObjectNode();
        root.put("model", local.directory().toString());
        root.set("prompt_ids", ids(result.promptIds()));
        root.set("generated_ids", ids(result.generatedIds()));
        root.put("text", result.text());
        root.put("finish_reason", result.finishReason().openAiName());
        root.put("seed", seed);
        if (result.logprobs() != null) {
            ArrayNode list = root.putArray("logprobs");
            for (TokenLogprob lp : result.logprobs()) {
                ObjectNode entry = list.addObject();
                entry.put("token_id", lp.token());
                entry.put("token", local.tokenizer().decode(new int[] {lp.token()}, false));
                entry.put("logprob", lp.logprob());
                ArrayNode top = entry.putArray("top_logprobs");
                for (TokenLogprob.Alternative alt : lp.top()) {
                    top.addObject()
                            .put("token_id", alt.token())
                            .put("token", local.tokenizer().decode(new int[] {alt.token()}, false))
                            .put("logprob", alt.logprob());
                }
            }
        }
        GenerationResult.Timings t = result.timings();
        ObjectNode timings = root.putObject("timings");
        timings.put("prompt_tokens", t.promptTokens());
        timings.put("prefill_ms", t.prefillNanos() / 1e6);
        timings.put("prefill_tokens_per_second", t.prefillTokensPerSecond());
        timings.put("generated_tokens", t.generatedTokens());
        timings.put("decode_ms", t.decodeNanos() / 1e6);
        timings.put("decode_tokens_per_second", t.decodeTokensPerSecond());
        try {
            return JSON.writeValueAsString(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** One line per generated token: its log-probability and the alternatives. */
    static void printLogprobs(PrintWriter err, Tokenizer tokenizer, GenerationResult result) {
        for (TokenLogprob lp : result.logprobs()) {
            StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "%8d %-16s %9.4f |", lp.token(),
                    quoted(tokenizer, lp.token()), lp.logprob()));
            for (TokenLogprob.Alternative alt : lp.top()) {
                line.append(String.format(Locale.ROOT, " %s %.4f", quoted(tokenizer, alt.token()), alt.logprob()));
            }
            err.println(line);
        }
    }

    private static String quoted(Tokenizer tokenizer, int id) {
        String text = tokenizer.decode(new int[] {id}, false);
        try {
            return JSON.writeValueAsString(text);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static ArrayNode ids(int[] ids) {
        ArrayNode array = JSON.createArrayNode();
        for (int id : ids) {
            array.add(id);
        }
        return array;
    }
}
