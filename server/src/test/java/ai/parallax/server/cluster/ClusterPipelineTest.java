package ai.parallax.server.cluster;

import ai.parallax.server.serve.LocalServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

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
        try (LocalServer local = LocalServer.start(new LocalServer.Options(model, "127.0.0.1", 0, "4MiB", 16, 512, 8,
                16, null, null, 1, null, 1024), new PrintWriter(new StringWriter()));
             ClusterProcesses client = new ClusterProcesses(null)) {
            String[] out = new String[prompts.length];
            for (int i = 0; i < prompts.length; i++) {
                out[i] = text(client.complete(local.port(), name, prompts[i], maxTokens));
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
}
