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
            java.util.List<String> serving = ClusterProcesses.stageNodes(cluster.lastAllocation(), 0);
            String victim = workers.keySet().stream()   // a joined worker that serves (the scheduler may too)
                    .filter(n -> serving.stream().anyMatch(id -> cluster.peerOf(n).endsWith(id)))
                    .findFirst().orElseThrow();
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
    void killingTheMiddleNodeMidStreamLosesAndRepeatsNoToken(@TempDir Path tmp) throws Exception {
        Path model = model("stories260K");
        int maxTokens = 256;
        String[] expected = ClusterPipelineTest.reference(model, "stories260K", ClusterPipelineTest.PROMPTS, maxTokens,
                true);
        try (ClusterProcesses cluster = new ClusterProcesses(tmp)) {
            // 1000 KiB holds 2 of the 5 layers: three nodes build the pipeline, the fourth waits on standby and
            // lets the pipeline be rebuilt without the middle one.
            cluster.serve(model, "--memory", "1000KiB", "--activation-dtype", "f32", "--no-local-worker", "-n", "4");
            java.util.Map<String, Process> workers = cluster.joinAll(model, "1000KiB", "a", "b", "c", "d");
            cluster.awaitReady(1);
            String allocation = cluster.lastAllocation();
            java.util.List<String> order = ClusterProcesses.stageNodes(allocation, 0);
            assertThat(order).as(allocation).hasSize(3);
            String middle = cluster.nameOfPeerEndingWith(workers.keySet(), order.get(1));

            java.util.List<ClusterProcesses.Stream> streams = new java.util.ArrayList<>();
            for (String prompt : ClusterPipelineTest.PROMPTS) {
                streams.add(cluster.stream(cluster.apiPort, "stories260K", prompt, maxTokens));
            }
            cluster.await(() -> streams.stream().allMatch(s -> s.pieces.get() >= 10 || s.finish.isDone()), 60,
                    "tokens on every stream",
                    cluster.schedulerLog);
            for (ClusterProcesses.Stream s : streams) {
                assertThat(s.finish).as("a stream that ended before the kill").isNotDone();
            }
            workers.get(middle).destroyForcibly().waitFor(10, TimeUnit.SECONDS); // kill -9, mid-generation
            int[] before = streams.stream().mapToInt(s -> s.pieces.get()).toArray();
            for (int i = 0; i < streams.size(); i++) {
                String finish;
                try {
                    finish = streams.get(i).finish.get(180, TimeUnit.SECONDS);
                } catch (java.util.concurrent.ExecutionException e) {
                    throw new AssertionError("stream " + i + " failed: " + e.getCause().getMessage() + "; log:\n"
                            + read(cluster.schedulerLog), e);
                }
                assertThat(finish).as("finish of stream %d", i).isEqualTo("length");
                assertThat(streams.get(i).text()).as("stream %d; log:%n%s", i, read(cluster.schedulerLog))
                        .isEqualTo(expected[i]);
                assertThat(streams.get(i).pieces.get()).as("stream %d went on after the kill", i)
                        .isGreaterThan(before[i]);
            }
            assertThat(read(cluster.schedulerLog)).containsPattern("node \\S+ is gone: ")
                    .containsPattern("allocation 2: node \\S+ is gone.* -> pipeline 0: ");
        }
    }

    @Test
    void nodesJoiningMidServeTakePartAfterReallocation(@TempDir Path tmp) throws Exception {
        Path model = model("stories260K");
        int maxTokens = 300;
        String[] expected = ClusterPipelineTest.reference(model, "stories260K", ClusterPipelineTest.EIGHT_PROMPTS,
                maxTokens, true);
        try (ClusterProcesses cluster = new ClusterProcesses(tmp)) {
            // 1500 KiB holds 3 of the 5 layers: two nodes build one pipeline, four build two.
            cluster.serve(model, "--memory", "1500KiB", "--activation-dtype", "f32");
            cluster.join("a", "-m", model.toString(), "--memory", "1500KiB");
            cluster.awaitReady(1);
            java.util.List<ClusterProcesses.Stream> streams = new java.util.ArrayList<>();
            for (int i = 0; i < 2; i++) {
                streams.add(cluster.stream(cluster.apiPort, "stories260K", ClusterPipelineTest.EIGHT_PROMPTS[i],
                        maxTokens));
            }
            cluster.await(() -> streams.stream().allMatch(s -> s.pieces.get() >= 5), 60, "tokens on both streams",
                    cluster.schedulerLog);
            cluster.join("c", "-m", model.toString(), "--memory", "1500KiB");
            cluster.join("d", "-m", model.toString(), "--memory", "1500KiB");
            // (c alone may already move layers, if measured much faster; the fourth node makes a second pipeline.)
            cluster.await(() -> read(cluster.schedulerLog).contains("pipeline ready (2 pipelines"), 60,
                    "the second pipeline", cluster.schedulerLog);
            String log = read(cluster.schedulerLog);
            String reallocation = log.lines().filter(l -> l.contains("the nodes now build 2 pipelines instead of 1"))
                    .findFirst().orElseThrow();
            assertThat(reallocation).as(log).matches("allocation \\d+: node \\S+ joined: .* -> pipeline 0: .*")
                    .contains(cluster.peerOf("c").substring(cluster.peerOf("c").length() - 8))
                    .contains(cluster.peerOf("d").substring(cluster.peerOf("d").length() - 8));
            assertThat(read(cluster.log("c"))).contains("ready with layers");
            assertThat(read(cluster.log("d"))).contains("ready with layers");
            // The streams started before the nodes joined are whole. Whether they were still running at the
            // re-allocation depends on the machine's speed (on a busy one they are, and are replayed); the kill -9
            // tests above are the ones that prove replay mid-stream.
            for (int i = 0; i < streams.size(); i++) {
                assertThat(streams.get(i).finish.get(180, TimeUnit.SECONDS)).isEqualTo("length");
                assertThat(streams.get(i).text()).as("stream %d", i).isEqualTo(expected[i]);
            }
            java.util.concurrent.ExecutorService clients = java.util.concurrent.Executors.newFixedThreadPool(4);
            try {
                java.util.List<java.util.concurrent.Future<String>> answers = new java.util.ArrayList<>();
                for (int i = 2; i < 6; i++) {
                    String prompt = ClusterPipelineTest.EIGHT_PROMPTS[i];
                    answers.add(clients.submit(() -> text(cluster.complete(cluster.apiPort, "stories260K", prompt,
                            maxTokens, true))));
                }
                for (int i = 2; i < 6; i++) {
                    assertThat(answers.get(i - 2).get(120, TimeUnit.SECONDS)).as("request %d", i)
                            .isEqualTo(expected[i]);
                }
            } finally {
                clients.shutdownNow();
            }
            cluster.await(() -> read(cluster.schedulerLog).matches("(?s).*requests by pipeline: #0 \\d+ .* #1 [1-9].*"),
                    10, "requests on the new pipeline", cluster.schedulerLog);
        }
    }

    @Test
    void workersReportLoadingAndReconnectToARestartedScheduler(@TempDir Path tmp) throws Exception {
        Path model = model("stories260K");
        String[] expected = ClusterPipelineTest.reference(model, "stories260K", ClusterPipelineTest.PROMPTS, 16);
        try (ClusterProcesses cluster = new ClusterProcesses(tmp)) {
            int p2pPort = ai.parallax.server.cli.CliProcesses.freePort();
            String identity = tmp.resolve("scheduler.key").toString();
            Process first = cluster.serve(model, p2pPort, "serve.log", "--memory", "1000KiB", "--activation-dtype",
                    "f32", "--identity", identity);
            cluster.join("a", "-m", model.toString(), "--memory", "1000KiB");
            cluster.join("b", "-m", model.toString(), "--memory", "1000KiB");
            cluster.awaitReady(1);
            // The nodes told the scheduler how far their loading had come.
            String a = cluster.peerOf("a");
            assertThat(read(cluster.schedulerLog)).contains("node …" + a.substring(a.length() - 8) + " loading: 100%");

            first.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            cluster.await(() -> read(cluster.log("a")).contains("lost the scheduler"), 10, "a losing the scheduler",
                    cluster.log("a"));
            cluster.serve(model, p2pPort, "serve-again.log", "--memory", "1000KiB", "--activation-dtype", "f32",
                    "--identity", identity, "--join-token", cluster.token);
            cluster.awaitReady(1);
            assertThat(read(cluster.log("a"))).contains("reconnected to the scheduler");
            assertThat(read(cluster.log("b"))).contains("reconnected to the scheduler");
            for (int i = 0; i < ClusterPipelineTest.PROMPTS.length; i++) {
                assertThat(text(cluster.complete(cluster.apiPort, "stories260K", ClusterPipelineTest.PROMPTS[i], 16)))
                        .as("prompt %d after the restart", i).isEqualTo(expected[i]);
            }
        }
    }

    @Test
    void whenTwoPipelinesShrinkToOneItCarriesBothEnginesAndNoStreamIsLost(@TempDir Path tmp) throws Exception {
        Path model = model("stories260K");
        int maxTokens = 256;
        // Six streams, so that both pipelines get some even when the links' first round trips, which routing
        // counts, differ by a few milliseconds on a busy machine.
        String[] prompts = java.util.Arrays.copyOf(ClusterPipelineTest.EIGHT_PROMPTS, 6);
        String[] expected = ClusterPipelineTest.reference(model, "stories260K", prompts, maxTokens, true);
        try (ClusterProcesses cluster = new ClusterProcesses(tmp)) {
            // 1500 KiB holds 3 of the 5 layers: four nodes build two pipelines of two; three build only one.
            cluster.serve(model, "--memory", "1500KiB", "-n", "4", "--activation-dtype", "f32", "--no-local-worker");
            java.util.Map<String, Process> workers = cluster.joinAll(model, "1500KiB", "a", "b", "c", "d");
            cluster.awaitReady(1);
            assertThat(read(cluster.schedulerLog)).contains("pipeline ready (2 pipelines");
            // Routing counts each link's least round trip over the last heartbeats (one a second); the first ones,
            // taken while the nodes' JVMs were still compiling, can be milliseconds.
            Thread.sleep(3000);
            java.util.List<ClusterProcesses.Stream> streams = new java.util.ArrayList<>();
            for (String prompt : prompts) {
                streams.add(cluster.stream(cluster.apiPort, "stories260K", prompt, maxTokens));
            }
            cluster.await(() -> streams.stream().allMatch(s -> s.pieces.get() >= 10 || s.finish.isDone()), 60,
                    "tokens on every stream", cluster.schedulerLog);
            for (ClusterProcesses.Stream s : streams) {
                assertThat(s.finish).as("a stream that ended before the kill").isNotDone();
            }
            workers.get("a").destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            int[] before = streams.stream().mapToInt(st -> st.pieces.get()).toArray();
            for (int i = 0; i < streams.size(); i++) {
                String finish;
                try {
                    finish = streams.get(i).finish.get(180, TimeUnit.SECONDS);
                } catch (java.util.concurrent.ExecutionException e) {
                    throw new AssertionError("stream " + i + " failed: " + e.getCause().getMessage() + "; log:\n"
                            + read(cluster.schedulerLog), e);
                }
                assertThat(finish).isEqualTo("length");
                assertThat(streams.get(i).text()).as("stream %d; log:%n%s", i, read(cluster.schedulerLog))
                        .isEqualTo(expected[i]);
                assertThat(streams.get(i).pieces.get()).as("stream %d went on after the kill", i)
                        .isGreaterThan(before[i]);
            }
            // The engine whose pipeline is gone was carried by the one left, in its own range of the KV pool.
            assertThat(read(cluster.schedulerLog)).containsPattern("pipeline ready \\(1 pipeline of 2 stages\\); "
                    + "pipeline 0 also carries engine 1");
        }
    }

    @Test
    void aNodeDyingInOnePipelineIsReplacedByTheStandbyWhileTheOtherPipelineKeepsServing(@TempDir Path tmp)
            throws Exception {
        Path model = model("stories260K");
        int maxTokens = 256;
        String[] prompts = java.util.Arrays.copyOf(ClusterPipelineTest.EIGHT_PROMPTS, 6);
        String[] expected = ClusterPipelineTest.reference(model, "stories260K", prompts, maxTokens, true);
        try (ClusterProcesses cluster = new ClusterProcesses(tmp)) {
            // 1500 KiB holds 3 of the 5 layers: two pipelines of two nodes, the fifth on standby.
            cluster.serve(model, "--memory", "1500KiB", "-n", "5", "--activation-dtype", "f32", "--no-local-worker");
            java.util.Map<String, Process> workers = cluster.joinAll(model, "1500KiB", "a", "b", "c", "d", "e");
            cluster.awaitReady(1);
            String allocation = cluster.lastAllocation();
            assertThat(allocation).contains("pipeline 1:").contains("standby:");
            String victim = cluster.nameOfPeerEndingWith(workers.keySet(),
                    ClusterProcesses.stageNodes(allocation, 1).getFirst());
            Thread.sleep(3000); // the links' round trips measured, so requests spread over both pipelines
            java.util.List<ClusterProcesses.Stream> streams = new java.util.ArrayList<>();
            for (String prompt : prompts) {
                streams.add(cluster.stream(cluster.apiPort, "stories260K", prompt, maxTokens));
            }
            cluster.await(() -> streams.stream().allMatch(st -> st.pieces.get() >= 10 || st.finish.isDone()), 60,
                    "tokens on every stream", cluster.schedulerLog);
            workers.get(victim).destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            for (int i = 0; i < streams.size(); i++) {
                assertThat(streams.get(i).finish.get(180, TimeUnit.SECONDS)).isEqualTo("length");
                assertThat(streams.get(i).text()).as("stream %d; log:%n%s", i, read(cluster.schedulerLog))
                        .isEqualTo(expected[i]);
            }
            String log = read(cluster.schedulerLog);
            assertThat(log).containsPattern("allocation 2: node \\S+ is gone.*; pipeline \\[1\\] rebuilt from the "
                    + "free nodes, pipeline \\[0\\] kept serving -> pipeline 0: ");
            // Only the broken pipeline's engine lost its KV state and replayed; the kept one never stopped.
            assertThat(ClusterProcesses.countOf(log, "lost its KV state")).as(log).isEqualTo(1);
            assertThat(log).containsPattern("requests by pipeline: #0 [1-9]\\d* .* #1 [1-9]");
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
