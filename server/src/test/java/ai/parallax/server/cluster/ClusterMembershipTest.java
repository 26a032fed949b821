package ai.parallax.server.cluster;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static ai.parallax.server.cluster.ClusterProcesses.model;
import static ai.parallax.server.cluster.ClusterProcesses.read;
import static ai.parallax.server.cluster.ClusterProcesses.text;
import static org.assertj.core.api.Assertions.assertThat;

/** Nodes that die, nodes refused, and nodes without the model. */
class ClusterMembershipTest {

    @Test
    void killedWorkerIsReplacedAndLaterRequestsStillMatchTheSingleMachine(@TempDir Path tmp) throws Exception {
        Path model = model("stories260K");
        String[] expected = ClusterPipelineTest.reference(model, "stories260K", ClusterPipelineTest.PROMPTS, 16);
        try (ClusterProcesses cluster = new ClusterProcesses(tmp)) {
            cluster.serve(model, "--memory", "1000KiB", "--activation-dtype", "f32");
            java.util.Map<String, Process> workers = new java.util.LinkedHashMap<>();
            workers.put("a", cluster.join("a", "-m", model.toString(), "--memory", "1000KiB"));
            workers.put("b", cluster.join("b", "-m", model.toString(), "--memory", "1000KiB"));
            cluster.awaitReady(1);
            assertThat(text(cluster.complete(cluster.apiPort, "stories260K", ClusterPipelineTest.PROMPTS[0], 16)))
                    .isEqualTo(expected[0]);
            // A fourth node joins: it waits on standby or, if measured faster, takes a stage (either is allowed).
            workers.put("c", cluster.join("c", "-m", model.toString(), "--memory", "1000KiB"));
            cluster.await(() -> read(cluster.schedulerLog).matches("(?s).*\\(4 nodes\\).*(unchanged|pipeline ready).*"),
                    30, "the fourth node", cluster.schedulerLog);
            Thread.sleep(500);
            int readyBefore = ClusterProcesses.countOf(read(cluster.schedulerLog), "pipeline ready");
            String lastAllocation = read(cluster.schedulerLog).lines().filter(l -> l.contains("-> pipeline 0:"))
                    .reduce((x, y) -> y).orElseThrow();
            String victim = workers.keySet().stream().filter(name -> {
                String peer = read(cluster.log(name)).replaceAll("(?s).*node (12D3KooW\\S+) connected.*", "$1");
                String serving = lastAllocation.substring(lastAllocation.indexOf("pipeline 0:"),
                        lastAllocation.contains("standby") ? lastAllocation.indexOf("standby") : lastAllocation.length());
                return serving.contains(peer.substring(peer.length() - 8));
            }).findFirst().orElseThrow();
            workers.get(victim).destroyForcibly().waitFor(10, TimeUnit.SECONDS); // kill -9 of a serving worker
            cluster.awaitReady(readyBefore + 1);
            String log = read(cluster.schedulerLog);
            assertThat(log).containsPattern("node \\S+ is gone: its connection closed")
                    .containsPattern("allocation \\d+: node \\S+ is gone.* -> pipeline 0: ");
            for (int i = 0; i < ClusterPipelineTest.PROMPTS.length; i++) {
                assertThat(text(cluster.complete(cluster.apiPort, "stories260K", ClusterPipelineTest.PROMPTS[i], 16)))
                        .as("prompt %d after the re-allocation", i).isEqualTo(expected[i]);
            }
        }
    }

    @Test
    void wrongTokenIsRefusedAndLoggedWithThePeerId(@TempDir Path tmp) throws Exception {
        Path model = model("stories260K");
        try (ClusterProcesses cluster = new ClusterProcesses(tmp)) {
            cluster.serve(model);
            cluster.token = "AAAAAAAAAAAAAAAAAAAAAAAAAA";
            Process bad = cluster.join("bad", "-m", model.toString());
            assertThat(bad.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(bad.exitValue()).isNotZero();
            assertThat(read(cluster.log("bad"))).contains("the scheduler refused to admit this node")
                    .contains("check --token");
            cluster.await(() -> read(cluster.schedulerLog).contains("wrong join token"), 10, "the refusal",
                    cluster.schedulerLog);
            String peer = read(cluster.log("bad")).replaceAll("(?s).*node (12D3KooW\\S+) connected.*", "$1");
            assertThat(read(cluster.schedulerLog)).contains("refused peer " + peer + ": wrong join token");
        }
    }

    @Test
    void nodeWithoutTheModelFilesSaysSo(@TempDir Path tmp) throws Exception {
        try (ClusterProcesses cluster = new ClusterProcesses(tmp)) {
            cluster.serve(model("stories260K"));
            Process p = cluster.join("empty", "--models-dir", tmp.resolve("no-models").toString());
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).isNotZero();
            assertThat(read(cluster.log("empty"))).contains("this node has no model files for 'stories260K'")
                    .contains(tmp.resolve("no-models").resolve("stories260K").toString()).contains("does not exist");
        }
    }
}
