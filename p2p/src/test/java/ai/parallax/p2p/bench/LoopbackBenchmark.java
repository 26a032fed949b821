package ai.parallax.p2p.bench;

import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.P2pStream;
import ai.parallax.p2p.StreamHandler;
import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.rpc.ChunkedWriter;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Loopback throughput of one stream (TCP + Noise + Yamux, both ends in this JVM) and libp2p ping round-trip time.
 * Not part of the normal test run; run it with
 * {@code ./dev mvn -q -B -o -pl p2p test -Dtest=LoopbackBenchmark -Dparallax.bench=true}.
 */
@EnabledIfSystemProperty(named = "parallax.bench", matches = "true")
class LoopbackBenchmark {

    @Test
    void throughputAndPing() throws Exception {
        try (P2pNode a = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")).start();
             P2pNode b = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")).start()) {
            CompletableFuture<Long> done = new CompletableFuture<>();
            b.handle("/bench/sink/1.0.0", () -> new StreamHandler() {
                long bytes;

                @Override
                public void onData(P2pStream stream, ByteBuf data) {
                    bytes += data.readableBytes();
                }

                @Override
                public void onRemoteClose(P2pStream stream) {
                    done.complete(bytes);
                }
            });
            a.dial(b.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
            ByteBuf block = Unpooled.directBuffer(64 << 20).writeZero(64 << 20);
            for (int warm = 0; warm < 2; warm++) {
                P2pStream s = a.openStream(b.peerId(), "/bench/sink/1.0.0", (st, d) -> { }).get(5, TimeUnit.SECONDS);
                ChunkedWriter.write(s, block.retainedDuplicate()).get(60, TimeUnit.SECONDS);
            }
            int rounds = 16; // 1 GiB
            P2pStream s = a.openStream(b.peerId(), "/bench/sink/1.0.0", (st, d) -> { }).get(5, TimeUnit.SECONDS);
            long start = System.nanoTime();
            for (int i = 0; i < rounds; i++) {
                ChunkedWriter.write(s, block.retainedDuplicate()).get(60, TimeUnit.SECONDS);
            }
            s.closeWrite();
            long bytes = done.get(60, TimeUnit.SECONDS);
            double seconds = (System.nanoTime() - start) / 1e9;
            block.release();

            long[] rtt = new long[500];
            for (int i = 0; i < 50; i++) {
                a.ping(b.peerId()).get(5, TimeUnit.SECONDS);
            }
            for (int i = 0; i < rtt.length; i++) {
                Duration d = a.ping(b.peerId()).get(5, TimeUnit.SECONDS);
                rtt[i] = d.toNanos();
            }
            Arrays.sort(rtt);
            System.out.printf("loopback stream: %d MiB in %.2f s = %.0f MB/s%n", bytes >> 20, seconds, bytes / 1e6 / seconds);
            System.out.printf("libp2p ping RTT (new stream each, %d pings): median %.0f us, p90 %.0f us%n", rtt.length,
                    rtt[rtt.length / 2] / 1e3, rtt[rtt.length * 9 / 10] / 1e3);
        }
    }
}
