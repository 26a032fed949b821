package ai.parallax.kernels.vulkan;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One case of a reference model's {@code expected.json} (outputs of a float64 re-implementation of the Hugging
 * Face modeling code), read the way the models module's reference test reads it.
 */
record ReferenceCase(int[] inputIds, int[] argmaxPerPosition, double[][] logitsFirst16PerPosition,
                     int[] top5Ids, double[] top5Logits, int[] greedyContinuation) {

    static Path models() {
        String dir = System.getProperty("parallax.models");
        if (dir == null) {
            throw new IllegalStateException("system property parallax.models is not set (the build sets it to "
                    + "../shared/models)");
        }
        return Path.of(dir);
    }

    static List<ReferenceCase> read(Path modelDir) {
        try {
            JsonNode root = new ObjectMapper().readTree(modelDir.resolve("expected.json").toFile());
            List<ReferenceCase> cases = new ArrayList<>();
            for (JsonNode c : root.get("cases")) {
                JsonNode logits = c.get("logits_first16_per_position");
                double[][] first16 = new double[logits.size()][];
                for (int p = 0; p < logits.size(); p++) {
                    first16[p] = doubles(logits.get(p));
                }
                JsonNode top5 = c.get("last_logits_top5");
                int[] topIds = new int[top5.size()];
                double[] topLogits = new double[top5.size()];
                for (int i = 0; i < top5.size(); i++) {
                    topIds[i] = top5.get(i).get(0).asInt();
                    topLogits[i] = top5.get(i).get(1).asDouble();
                }
                cases.add(new ReferenceCase(ints(c.get("input_ids")), ints(c.get("argmax_per_position")), first16,
                        topIds, topLogits, ints(c.get("greedy_continuation"))));
            }
            return cases;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    private static double[] doubles(JsonNode array) {
        double[] out = new double[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asDouble();
        }
        return out;
    }
}
