package ai.parallax.server.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import java.io.File;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code parallax serve} as a real process (java -cp of the build's class path), talked to with the OpenAI SDK. */
class ServeProcessTest {

    @Test
    void serveProcessAnswersTheSdk(@TempDir Path tmp) throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0)) {
            port = probe.getLocalPort();
        }
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Path log = tmp.resolve("serve.log");
        Process process = new ProcessBuilder(java.toString(), "--add-modules", "jdk.incubator.vector",
                "-cp", classPath, "ai.parallax.server.cli.ParallaxCli", "serve",
                "-m", Path.of(System.getProperty("parallax.models"), "stories260K").toString(),
                "--host", "127.0.0.1", "--port", Integer.toString(port), "--kv-cache-memory", "8MiB", "--threads", "1")
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            HttpClient http = HttpClient.newHttpClient();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            int status = 0;
            while (status != 200 && System.nanoTime() < deadline && process.isAlive()) {
                try {
                    status = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health"))
                            .build(), HttpResponse.BodyHandlers.discarding()).statusCode();
                } catch (java.io.IOException notYet) {
                    Thread.sleep(100);
                }
            }
            assertThat(status).as("health; log:%n%s", Files.exists(log) ? Files.readString(log) : "").isEqualTo(200);
            assertThat(Files.readString(log)).contains("KV cache: ").contains("serving stories260K");
            OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + port + "/v1")
                    .apiKey("none").maxRetries(0).build();
            String text = client.chat().completions().create(ChatCompletionCreateParams.builder()
                    .model("stories260K").addUserMessage("Once upon a time").maxCompletionTokens(8).temperature(0.0)
                    .build()).choices().getFirst().message().content().orElseThrow();
            // The reference story of stories260K (expected.json) goes on ", there was a little girl…".
            assertThat(text).isEqualTo(", there was a little girl");
        } finally {
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        }
    }
}
