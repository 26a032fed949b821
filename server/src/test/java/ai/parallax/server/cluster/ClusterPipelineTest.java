package ai.parallax.server.cluster;

import ai.parallax.server.serve.LocalServer;
import ai.parallax.models.tokenizer.Tokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static ai.parallax.server.cluster.ClusterProcesses.model;
import static ai.parallax.server.cluster.ClusterProcesses.read;
import static ai.parallax.server.cluster.ClusterProcesses.text;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Clusters of real processes on loopback, checked against the single-machine server: a pipeline split over nodes
 * must give exactly the greedy output of the whole model on one machine.
 */
class ClusterPipelineTest {
    static final String[] PROMPTS = {"Once upon a time", "The little dog", "Lily and Ben went to the park"};

    /** The single-machine reference, from an in-process server on the same model. */
    static String[] reference(Path model, String name, String[] prompts, int maxTokens) throws Exception {
        return reference(model, name, prompts, maxTokens, false);
    }

    static String[] reference(Path model, String name, String[] prompts, int maxTokens, boolean ignoreEos)
            throws Exception {
        try (LocalServer local = LocalServer.start(new LocalServer.Options(model, "127.0.0.1", 0, "4MiB", 16, 512, 8,
                16, null, null, 1, null, 1024), new PrintWriter(new StringWriter()));
             ClusterProcesses client = new ClusterProcesses(null)) {
            String[] out = new String[prompts.length];
            for (int i = 0; i < prompts.length; i++) {
                out[i] = text(client.complete(local.port(), name, prompts[i], maxTokens, ignoreEos));
            }
            return out;
        }
    }

    @Test
    void threeNodePipelineOnStories260kGivesTheSingleMachineOutput(@TempDir Path tmp) throws Exception {
        Path model = model("stories260K");
        String[] expected = reference(model, "stories260K", PROMPTS, 24);
        try (ClusterProcesses cluster = new ClusterProcesses(tmp)) {
            // About 434 KiB per layer with its KV reserve: 1000 KiB holds 2 layers, so 5 layers need 3 nodes.
            cluster.serve(model, "--memory", "1000KiB", "--activation-dtype", "f32");
            cluster.join("a", "-m", model.toString(), "--memory", "1000KiB");
            cluster.join("b", "-m", model.toString(), "--memory", "1000KiB");
            cluster.awaitReady(1);
            String log = read(cluster.schedulerLog);
            assertThat(log).containsPattern("allocation \\d+: .*pipeline 0: \\S+ \\[0,\\d\\) \\S+ \\[\\d,\\d\\) \\S+ \\[\\d,5\\)");
            for (int i = 0; i < PROMPTS.length; i++) {
                assertThat(text(cluster.complete(cluster.apiPort, "stories260K", PROMPTS[i], 24)))
                        .as("prompt %d; log:%n%s", i, log).isEqualTo(expected[i]);
            }
            assertThat(read(cluster.log("a"))).contains("ready with layers");
        }
    }

    @Test
    void twoNodePipelineOnTinyRandomQwen3GivesTheSingleMachineOutput(@TempDir Path tmp) throws Exception {
        // Two layers allow at most two stages. The embedding (4.6 MiB) and the tied head (4.6 MiB again) cannot
        // share one 6 MiB node, so the first stage holds the embedding and layer 0, the last layer 1 and the head.
        Path model = ClusterProcesses.qwen3WithTokenizer(tmp.resolve("tiny-random-qwen3"));
        String[] prompts = {"Hello, my dog is cute", "The capital of France is"};
        String[] expected = reference(model, "tiny-random-qwen3", prompts, 12);
        try (ClusterProcesses cluster = new ClusterProcesses(tmp)) {
            cluster.serve(model, "--memory", "6MiB", "--activation-dtype", "f32");
            cluster.join("a", "-m", model.toString(), "--memory", "6MiB");
            cluster.awaitReady(1);
            String log = read(cluster.schedulerLog);
            assertThat(log).containsPattern("allocation \\d+: .*pipeline 0: \\S+ \\[0,1\\) \\S+ \\[1,2\\)");
            for (int i = 0; i < prompts.length; i++) {
                assertThat(text(cluster.complete(cluster.apiPort, "tiny-random-qwen3", prompts[i], 12)))
                        .as("prompt %d; log:%n%s", i, log).isEqualTo(expected[i]);
            }
        }
    }

    /**
     * Qwen3-Next (linear and full attention alternating) and gpt-oss (sliding and full alternating) split over a
     * scheduler's stage and a joined node's: the stages keep each sequence's recurrent state or window ring in the
     * slot its steps name. Every boundary of these models falls between layers of different types (seen: qwen3-next
     * [0,2) [2,4), gpt-oss [0,2) [2,3)). Three prompts at once (expected.json's, as token ids) must continue as the
     * float64 reference does (read as text through a tokenizer that spells each id), as on the single machine.
     */
    @ParameterizedTest
    @CsvSource({
            // qwen3-next: 691.5 KiB per layer with its KV reserve, 192 KiB each for the embedding and the head, so
            // 2 MiB holds two layers and one of them, not three; gpt-oss's 3 layers need both 1 MiB nodes.
            "tiny-random-qwen3-next, 2MiB",
            "tiny-random-gpt-oss, 1MiB"})
    void modelsWithPerSequenceStateServeTheReferenceContinuationsOverTwoNodes(String name, String memory,
                                                                              @TempDir Path tmp) throws Exception {
        Path model = ClusterProcesses.withIdTokenizer(tmp.resolve(name), name);
        JsonNode cases = ClusterProcesses.JSON.readTree(ClusterProcesses.model(name).resolve("expected.json")
                .toFile()).get("cases");
        Tokenizer tokenizer = Tokenizer.load(model);
        List<int[]> prompts = new ArrayList<>();
        List<String> expected = new ArrayList<>();
        for (JsonNode c : cases) {
            prompts.add(ids(c.get("input_ids")));
            expected.add(tokenizer.decode(ids(c.get("greedy_continuation")), true));
        }
        String[] single = new String[prompts.size()];
        try (LocalServer local = LocalServer.start(new LocalServer.Options(model, "127.0.0.1", 0, "4MiB", 16, 512, 8,
                16, null, null, 1, null, 1024), new PrintWriter(new StringWriter()));
             ClusterProcesses client = new ClusterProcesses(null)) {
            for (int i = 0; i < single.length; i++) {
                single[i] = text(client.complete(local.port(), name, prompts.get(i), 12));
            }
        }
        assertThat(single).as("the single machine against the reference").containsExactly(
                expected.toArray(String[]::new));
        try (ClusterProcesses cluster = new ClusterProcesses(tmp)) {
            cluster.serve(model, "--memory", memory, "--activation-dtype", "f32", "--max-running", "8");
            cluster.join("a", "-m", model.toString(), "--memory", memory);
            cluster.awaitReady(1);
            String log = read(cluster.schedulerLog);
            assertThat(log).containsPattern("allocation \\d+: .*pipeline 0: \\S+ \\[0,\\d\\) \\S+ \\[\\d,\\d\\)");
            java.util.concurrent.ExecutorService clients = java.util.concurrent.Executors.newFixedThreadPool(3);
            try {
                List<java.util.concurrent.Future<String>> answers = new ArrayList<>();
                for (int[] prompt : prompts) {
                    answers.add(clients.submit(() -> text(cluster.complete(cluster.apiPort, name, prompt, 12))));
                }
                for (int i = 0; i < prompts.size(); i++) {
                    assertThat(answers.get(i).get(120, java.util.concurrent.TimeUnit.SECONDS))
                            .as("prompt %d; log:%n%s", i, log).isEqualTo(expected.get(i));
                }
            } finally {
                clients.shutdownNow();
            }
        }
    }

    private static int[] ids(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    static final String[] EIGHT_PROMPTS = {"Once upon a time", "The little dog", "Lily and Ben went to the park",
            "Tom had a red ball", "The sun was hot", "One day a cat", "Sara liked to sing", "There was a big tree"};

    @Test
    void twoPipelinesOfTwoNodesServeEightConcurrentRequestsAndBothWork(@TempDir Path tmp) throws Exception {
        Path model = model("stories260K");
        // 128 tokens each, so that the eight requests overlap even on an idle machine: requests that never overlap
        // all rightly go to the first pipeline, which is as good as any when idle.
        String[] expected = reference(model, "stories260K", EIGHT_PROMPTS, 128);
        try (ClusterProcesses cluster = new ClusterProcesses(tmp)) {
            // 1500 KiB holds 3 of the 5 layers: a pipeline needs 2 nodes, and 4 nodes build 2 pipelines
            // (k²/s* = 4/4 beats 1/2). The scheduler holds no layers, so both pipelines cross the same links.
            cluster.serve(model, "--memory", "1500KiB", "-n", "4", "--activation-dtype", "f32", "--no-local-worker");
            cluster.join("a", "-m", model.toString(), "--memory", "1500KiB");
            cluster.join("e", "-m", model.toString(), "--memory", "1500KiB");
            cluster.join("b", "-m", model.toString(), "--memory", "1500KiB");
            cluster.join("c", "-m", model.toString(), "--memory", "1500KiB");
            cluster.awaitReady(1);
            assertThat(read(cluster.schedulerLog)).containsPattern("pipeline ready \\(2 pipelines of 2 \\+ 2 stages\\)");
            java.util.concurrent.ExecutorService clients = java.util.concurrent.Executors.newFixedThreadPool(8);
            try {
                java.util.List<java.util.concurrent.Future<String>> answers = new java.util.ArrayList<>();
                for (String prompt : EIGHT_PROMPTS) {
                    answers.add(clients.submit(() -> text(cluster.complete(cluster.apiPort, "stories260K", prompt,
                            128))));
                }
                for (int i = 0; i < EIGHT_PROMPTS.length; i++) {
                    assertThat(answers.get(i).get(120, java.util.concurrent.TimeUnit.SECONDS))
                            .as("request %d", i).isEqualTo(expected[i]);
                }
            } finally {
                clients.shutdownNow();
            }
            // The router spreads the requests: each pipeline's engine took some of the eight. The summary is logged
            // every 2 s when it changed, so wait for the one that counts all eight.
            java.util.regex.Pattern summary = java.util.regex.Pattern.compile(
                    "requests by pipeline: #0 (\\d+) .* #1 (\\d+) ");
            java.util.function.Supplier<int[]> counts = () -> {
                java.util.Optional<String> last = read(cluster.schedulerLog).lines()
                        .filter(l -> l.startsWith("requests by pipeline")).reduce((x, y) -> y);
                if (last.isEmpty()) {
                    return new int[] {0, 0};
                }
                java.util.regex.Matcher m = summary.matcher(last.get());
                assertThat(m.find()).as("routing summary: %s", last.get()).isTrue();
                return new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))};
            };
            cluster.await(() -> counts.get()[0] + counts.get()[1] == 8, 20, "the routing summary of all 8 requests",
                    cluster.schedulerLog);
            int first = counts.get()[0];
            int second = counts.get()[1];
            assertThat(first).as("requests on pipeline 0; log:%n%s", read(cluster.schedulerLog)).isPositive();
            assertThat(second).as("requests on pipeline 1").isPositive();
        }
    }
}
