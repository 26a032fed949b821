package ai.parallax.server.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;

/**
 * {@code join} without {@code -s} finds the scheduler on the LAN over mDNS, with real processes on loopback. Each
 * test uses its own mDNS port ({@code --mdns-port}, hidden), so it neither hears nor disturbs the LAN's responders.
 */
class JoinDiscoveryTest {
    private static final Path STORIES = Path.of(System.getProperty("parallax.models"), "stories260K");
    private static final Path LOGS = Path.of("target", "join-discovery-logs");

    private static String[] serve(int mdnsPort, String token) throws Exception {
        return new String[] {"serve", "--cluster", "-m", STORIES.toString(), "--host", "127.0.0.1", "--port",
                Integer.toString(CliProcesses.freePort()), "--p2p-port", "0", "--threads", "1", "--kv-blocks", "64",
                "--benchmark-ms", "50", "--no-local-worker", "--join-token", token, "--mdns-port",
                Integer.toString(mdnsPort)};
    }

    private static String[] join(int mdnsPort, String token) {
        return new String[] {"join", "--token", token, "--host", "127.0.0.1", "--threads", "1", "--benchmark-ms",
                "50", "-m", STORIES.toString(), "--mdns-port", Integer.toString(mdnsPort), "--discovery-seconds", "2"};
    }

    private static int mdnsPort() {
        return ThreadLocalRandom.current().nextInt(42000, 48000);
    }

    @Test
    void nodeWithoutSchedulerAddressFindsItOnTheLanAndServes() throws Exception {
        int mdns = mdnsPort();
        String token = "lanone" + "a".repeat(20);
        try (CliProcesses p = new CliProcesses(LOGS.resolve("one"))) {
            p.start("serve", serve(mdns, token));
            p.await(() -> p.read("serve").contains("announced on the LAN"), 30, "the mDNS announcement", "serve");
            p.start("join", join(mdns, token));
            p.await(() -> p.read("serve").contains("pipeline ready"), 60, "a pipeline on the discovered node",
                    "serve");
            assertThat(p.read("join")).contains("no -s: looking for the scheduler on the LAN",
                    "found the scheduler on the LAN: /ip4/127.0.0.1/", "registered");
        }
    }

    @Test
    void withTwoSchedulersOnTheLanTheNodeListsThemAndJoinsTheOneItsTokenOpens() throws Exception {
        int mdns = mdnsPort();
        try (CliProcesses p = new CliProcesses(LOGS.resolve("two"))) {
            p.start("serve-a", serve(mdns, "lanaaa" + "a".repeat(20)));
            p.start("serve-b", serve(mdns, "lanbbb" + "b".repeat(20)));
            p.await(() -> p.read("serve-a").contains("announced on the LAN"), 30, "A's announcement", "serve-a");
            p.await(() -> p.read("serve-b").contains("announced on the LAN"), 30, "B's announcement", "serve-b");
            p.start("join", join(mdns, "lanbbb" + "b".repeat(20)));
            p.await(() -> p.read("serve-b").contains("pipeline ready"), 60, "B's pipeline", "serve-b");
            String scheduler = p.read("serve-b").lines().filter(l -> l.startsWith("scheduler "))
                    .findFirst().orElseThrow().split(" ")[1];
            assertThat(p.read("join")).contains("found 2 peers on the LAN", "found the scheduler on the LAN",
                    "/p2p/" + scheduler);
            assertThat(p.read("serve-a")).doesNotContain("pipeline ready");
        }
    }

    @Test
    void nothingOnTheLanSaysSoAndNamesTheWayOut() throws Exception {
        try (CliProcesses p = new CliProcesses(LOGS.resolve("none"))) {
            Process join = p.start("join", join(mdnsPort(), "nobody" + "c".repeat(20)));
            assertThat(join.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
            assertThat(join.exitValue()).isNotZero();
            assertThat(p.read("join")).contains("no scheduler answered on the LAN (mDNS) within 2 s",
                    "pass -s with the address it printed");
        }
    }
}
