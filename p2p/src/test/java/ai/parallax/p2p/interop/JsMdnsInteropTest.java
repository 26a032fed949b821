package ai.parallax.p2p.interop;

import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.mdns.MdnsDiscovery;
import ai.parallax.p2p.multiformats.Multiaddr;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * mDNS discovery against js-libp2p's @libp2p/mdns on the real mDNS group (224.0.0.251:5353): each side must find
 * the other with its peer id and TCP address. Skipped where js-libp2p is not installed or the host delivers no
 * multicast.
 */
@Timeout(40)
class JsMdnsInteropTest {
    private static final Path JS_DIR = Path.of("src/test/js");

    @Test
    @SuppressWarnings("try") // the resource lives for the block; it is not otherwise used
    void ourNodeAndJsLibp2pDiscoverEachOther() throws Exception {
        requireJsPeerInstalled(Files.isDirectory(JS_DIR.resolve("node_modules/@libp2p/mdns")));
        PeerId us = IdentityKeyPair.generate().peerId();
        List<Multiaddr> ourAddrs = List.of(Multiaddr.parse("/ip4/127.0.0.1/tcp/4999/p2p/" + us));
        CompletableFuture<JsonNode> jsListening = new CompletableFuture<>();
        CompletableFuture<JsonNode> jsFoundUs = new CompletableFuture<>();
        Process js = new ProcessBuilder("node", "--import", "./polyfill.mjs", "peer.mjs", "--mdns")
                .directory(JS_DIR.toFile()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        Thread reader = new Thread(() -> {
            ObjectMapper json = new ObjectMapper();
            try (BufferedReader r = new BufferedReader(new InputStreamReader(js.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (!line.startsWith("{")) {
                        continue;
                    }
                    JsonNode e = json.readTree(line);
                    switch (e.path("event").asText()) {
                        case "listening" -> jsListening.complete(e);
                        case "discovery" -> {
                            if (e.path("peerId").asText().equals(us.toString())) {
                                jsFoundUs.complete(e);
                            }
                        }
                        default -> { }
                    }
                }
            } catch (IOException ignored) {
                // the process ended
            }
        });
        reader.setDaemon(true);
        reader.start();
        try {
            JsonNode listening = jsListening.get(15, TimeUnit.SECONDS);
            PeerId jsPeer = PeerId.parse(listening.get("peerId").asText());
            CompletableFuture<List<Multiaddr>> weFoundJs = new CompletableFuture<>();
            try (MdnsDiscovery discovery = new MdnsDiscovery(us, () -> ourAddrs, (peer, addrs) -> {
                if (peer.equals(jsPeer)) {
                    weFoundJs.complete(addrs);
                }
            }, MdnsDiscovery.MDNS_GROUP, null, Duration.ofSeconds(1)).start()) {
                List<Multiaddr> found;
                JsonNode theyFound;
                try {
                    found = weFoundJs.get(10, TimeUnit.SECONDS);
                    theyFound = jsFoundUs.get(10, TimeUnit.SECONDS);
                } catch (TimeoutException e) {
                    assumeTrue(false, "no mDNS multicast delivered on this host (weFoundJs=" + weFoundJs.isDone()
                            + ", jsFoundUs=" + jsFoundUs.isDone() + ")");
                    return;
                }
                assertThat(found).contains(Multiaddr.parse(listening.get("addrs").get(0).asText()));
                assertThat(theyFound.get("addrs").toString()).contains("/ip4/127.0.0.1/tcp/4999");
            }
        } finally {
            js.getOutputStream().write("quit\n".getBytes(StandardCharsets.UTF_8));
            js.getOutputStream().flush();
            if (!js.waitFor(5, TimeUnit.SECONDS)) {
                js.destroyForcibly();
            }
        }
    }

    /** Locally a missing npm install skips these tests; on CI (which runs install.sh) it fails them. */
    static void requireJsPeerInstalled(boolean installed) {
        String message = "js-libp2p is not installed; run p2p/src/test/js/install.sh";
        if ("true".equals(System.getenv("CI"))) {
            org.junit.jupiter.api.Assertions.assertTrue(installed, message);
        } else {
            assumeTrue(installed, message);
        }
    }
}
