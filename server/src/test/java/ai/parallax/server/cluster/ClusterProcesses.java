package ai.parallax.server.cluster;

import ai.parallax.server.cli.CliProcesses;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Real {@code serve} and {@code join} processes on loopback, started from the test class path. */
final class ClusterProcesses implements AutoCloseable {
    static final JsonMapper JSON = new JsonMapper();
    private static final Pattern JOIN = Pattern.compile("parallax join -s (\\S+) --token (\\S+)");

    final Path dir;
    final List<Process> processes = new ArrayList<>();
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    int apiPort;
    String schedulerAddress;
    String token;
    Path schedulerLog;

    ClusterProcesses(Path dir) {
        this.dir = dir;
    }

    static Path model(String name) {
        return Path.of(System.getProperty("parallax.models"), name);
    }

    /** tiny-random-qwen3 ships weights only: a folder of links to them, with the real Qwen3 tokenizer beside. */
    static Path qwen3WithTokenizer(Path dir) throws IOException {
        Path models = Path.of(System.getProperty("parallax.models"));
        Files.createDirectories(dir);
        for (String f : List.of("config.json", "generation_config.json", "model.safetensors")) {
            Files.createSymbolicLink(dir.resolve(f), models.resolve("tiny-random-qwen3").resolve(f));
        }
        for (String f : List.of("tokenizer.json", "tokenizer_config.json")) {
            Files.createSymbolicLink(dir.resolve(f), models.resolve("tokenizer-qwen3").resolve(f));
        }
        return dir;
    }

    /**
     * A model of {@code name} that ships weights only (a tiny vocabulary, ids 0/1/2 pad/bos/eos, no tokenizer), in
     * a folder of links beside a written tokenizer.json that spells id i as {@code t<i>} with no decoder (tokens
     * joined by spaces): the API can serve it, prompts go as token ids, and the text it returns names the ids.
     */
    static Path withIdTokenizer(Path dir, String name) throws IOException {
        Path models = Path.of(System.getProperty("parallax.models"));
        Files.createDirectories(dir);
        for (String f : List.of("config.json", "generation_config.json", "model.safetensors")) {
            Files.createSymbolicLink(dir.resolve(f), models.resolve(name).resolve(f));
        }
        int vocab = JSON.readTree(models.resolve(name).resolve("config.json").toFile()).get("vocab_size").asInt();
        com.fasterxml.jackson.databind.node.ObjectNode tokenizer = JSON.createObjectNode();
        tokenizer.put("version", "1.0").putNull("truncation").putNull("padding").putArray("added_tokens");
        tokenizer.putNull("normalizer").putNull("pre_tokenizer").putNull("post_processor").putNull("decoder");
        com.fasterxml.jackson.databind.node.ObjectNode model = tokenizer.putObject("model");
        model.put("type", "BPE").putNull("dropout").putNull("unk_token").putNull("continuing_subword_prefix")
                .putNull("end_of_word_suffix").put("fuse_unk", false).put("byte_fallback", false);
        com.fasterxml.jackson.databind.node.ObjectNode ids = model.putObject("vocab");
        for (int i = 0; i < vocab; i++) {
            ids.put("t" + i, i);
        }
        model.putArray("merges");
        Files.writeString(dir.resolve("tokenizer.json"), JSON.writeValueAsString(tokenizer));
        return dir;
    }

    private Process start(Path log, String... args) throws IOException {
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "-Xmx256m", "-cp", classPath,
                "ai.parallax.server.cli.ParallaxCli"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        processes.add(p);
        return p;
    }

    /** Starts the scheduler and waits for its join command. */
    Process serve(Path model, String... extra) throws Exception {
        return serve(model, 0, "serve.log", extra);
    }

    /** As above, on a given P2P port, logging to {@code logName} (a restarted scheduler gets a new log). */
    Process serve(Path model, int p2pPort, String logName, String... extra) throws Exception {
        apiPort = CliProcesses.freePort();
        schedulerLog = dir.resolve(logName);
        List<String> args = new ArrayList<>(List.of("serve", "--cluster", "-m", model.toString(), "--host",
                "127.0.0.1", "--port", Integer.toString(apiPort), "--p2p-port", Integer.toString(p2pPort), "--threads", "1",
                "--kv-blocks", "64", "--benchmark-ms", "50", "--recovery-timeout", "30"));
        args.addAll(List.of(extra));
        Process p = start(schedulerLog, args.toArray(String[]::new));
        await(() -> JOIN.matcher(read(schedulerLog)).find(), 30, "the join command", schedulerLog);
        Matcher m = JOIN.matcher(read(schedulerLog));
        m.find();
        schedulerAddress = m.group(1);
        token = m.group(2);
        return p;
    }

    Process join(String name, String... extra) throws IOException {
        List<String> args = new ArrayList<>(List.of("join", "-s", schedulerAddress, "--token", token, "--host",
                "127.0.0.1", "--threads", "1", "--benchmark-ms", "50"));
        args.addAll(List.of(extra));
        return start(dir.resolve(name + ".log"), args.toArray(String[]::new));
    }

    /** Joins one worker per name, each holding {@code model} within {@code memory}; by name, in that order. */
    java.util.Map<String, Process> joinAll(Path model, String memory, String... names) throws IOException {
        java.util.Map<String, Process> workers = new java.util.LinkedHashMap<>();
        for (String name : names) {
            workers.put(name, join(name, "-m", model.toString(), "--memory", memory));
        }
        return workers;
    }

    Path log(String name) {
        return dir.resolve(name + ".log");
    }

    static String read(Path log) {
        try {
            return Files.exists(log) ? Files.readString(log) : "";
        } catch (IOException e) {
            return "";
        }
    }

    void await(BooleanSupplier condition, int seconds, String what, Path log) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what + "; log " + log + ":\n" + read(log));
            }
            Thread.sleep(50);
        }
    }

    /** Waits until the scheduler's log shows {@code count} pipelines made ready. */
    void awaitReady(int count) throws InterruptedException {
        await(() -> countOf(read(schedulerLog), "pipeline ready") >= count, 60, count + " ready pipelines",
                schedulerLog);
    }

    /** The scheduler's last allocation line ({@code allocation n: reason -> pipeline 0: …}). */
    String lastAllocation() {
        return read(schedulerLog).lines().filter(l -> l.contains("-> pipeline 0:")).reduce((x, y) -> y)
                .orElseThrow(() -> new AssertionError("no allocation in " + schedulerLog));
    }

    /** The last 8 characters of the peer id of each stage of pipeline {@code p} in an allocation line, in order. */
    static java.util.List<String> stageNodes(String allocation, int p) {
        int from = allocation.indexOf("pipeline " + p + ":");
        if (from < 0) {
            throw new AssertionError("no pipeline " + p + " in " + allocation);
        }
        int to = allocation.indexOf(";", from);
        java.util.regex.Matcher stages = java.util.regex.Pattern.compile("…(\\S{8}) \\[")
                .matcher(allocation.substring(from, to < 0 ? allocation.length() : to));
        java.util.List<String> nodes = new java.util.ArrayList<>();
        while (stages.find()) {
            nodes.add(stages.group(1));
        }
        return nodes;
    }

    /** The name of the process (as given to {@link #join}) whose peer id ends with {@code suffix}. */
    String nameOfPeerEndingWith(java.util.Collection<String> names, String suffix) {
        return names.stream().filter(n -> peerOf(n).endsWith(suffix)).findFirst()
                .orElseThrow(() -> new AssertionError("no node's peer id ends with " + suffix));
    }

    static int countOf(String text, String needle) {
        int n = 0;
        for (int i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + 1)) {
            n++;
        }
        return n;
    }

    /** A greedy completion through the OpenAI API; returns the response JSON. */
    HttpResponse<String> complete(int port, String model, String prompt, int maxTokens) throws Exception {
        return complete(port, model, prompt, maxTokens, false);
    }

    /** As above; {@code ignoreEos} makes it generate all {@code maxTokens}. */
    HttpResponse<String> complete(int port, String model, String prompt, int maxTokens, boolean ignoreEos)
            throws Exception {
        String body = JSON.writeValueAsString(JSON.createObjectNode().put("model", model).put("prompt", prompt)
                .put("max_tokens", maxTokens).put("temperature", 0).put("ignore_eos", ignoreEos));
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                .timeout(Duration.ofSeconds(90)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** A greedy completion of the prompt given as token ids, generating all {@code maxTokens}; the response JSON. */
    HttpResponse<String> complete(int port, String model, int[] promptIds, int maxTokens) throws Exception {
        com.fasterxml.jackson.databind.node.ObjectNode request = JSON.createObjectNode().put("model", model)
                .put("max_tokens", maxTokens).put("temperature", 0).put("ignore_eos", true);
        com.fasterxml.jackson.databind.node.ArrayNode prompt = request.putArray("prompt");
        for (int id : promptIds) {
            prompt.add(id);
        }
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                .timeout(Duration.ofSeconds(90)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(request))).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** A streamed greedy completion, read on its own thread: the text so far, the pieces, how it ended. */
    static final class Stream {
        final StringBuilder text = new StringBuilder();
        final java.util.concurrent.atomic.AtomicInteger pieces = new java.util.concurrent.atomic.AtomicInteger();
        final java.util.concurrent.CompletableFuture<String> finish = new java.util.concurrent.CompletableFuture<>();

        synchronized String text() {
            return text.toString();
        }
    }

    Stream stream(int port, String model, String prompt, int maxTokens) throws Exception {
        String body = JSON.writeValueAsString(JSON.createObjectNode().put("model", model).put("prompt", prompt)
                .put("max_tokens", maxTokens).put("temperature", 0).put("ignore_eos", true).put("stream", true));
        Stream out = new Stream();
        http.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                        .timeout(Duration.ofSeconds(180)).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofLines())
                .thenAccept(response -> {
                    if (response.statusCode() != 200) {
                        out.finish.completeExceptionally(new AssertionError("HTTP " + response.statusCode() + ": "
                                + response.body().collect(java.util.stream.Collectors.joining("\n"))));
                        return;
                    }
                    String finish = null;
                    for (String line : (Iterable<String>) response.body()::iterator) {
                        String data = line.startsWith("data:") ? line.substring(5).strip() : null;
                        if (data == null || data.equals("[DONE]")) {
                            continue;
                        }
                        try {
                            JsonNode event = JSON.readTree(data);
                            if (event.has("error")) {
                                out.finish.completeExceptionally(new AssertionError("stream error: " + line));
                                return;
                            }
                            JsonNode choice = event.path("choices").path(0);
                            synchronized (out) {
                                out.text.append(choice.path("text").asText());
                            }
                            out.pieces.incrementAndGet();
                            if (!choice.path("finish_reason").isNull() && choice.has("finish_reason")) {
                                finish = choice.path("finish_reason").asText();
                            }
                        } catch (IOException e) {
                            out.finish.completeExceptionally(e);
                            return;
                        }
                    }
                    out.finish.complete(String.valueOf(finish));
                }).exceptionally(e -> {
                    out.finish.completeExceptionally(e);
                    return null;
                });
        return out;
    }

    /** The peer id a {@code join} process printed. */
    String peerOf(String name) {
        return read(log(name)).replaceAll("(?s).*node (12D3KooW\\S+) connected.*", "$1");
    }

    static String text(HttpResponse<String> response) throws IOException {
        JsonNode json = JSON.readTree(response.body());
        if (response.statusCode() != 200) {
            throw new AssertionError("HTTP " + response.statusCode() + ": " + response.body());
        }
        return json.path("choices").path(0).path("text").asText();
    }

    @Override
    public void close() throws InterruptedException {
        for (Process p : processes) {
            p.destroy();
        }
        for (Process p : processes) {
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }
}
