package ai.parallax.p2p.bench;

import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.P2pStream;
import ai.parallax.p2p.StreamHandler;
import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.rpc.ChunkedWriter;
import ai.parallax.p2p.rpc.FrameStream;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Loopback throughput (TCP + Noise + Yamux, both ends in this JVM) and libp2p ping round-trip time. Three receive
 * paths: a raw stream whose handler only counts bytes; 1 MiB frames ({@code FrameStream}, as the activations link
 * uses them) whose receiver copies each frame into a destination buffer; and the same for 64 KiB frames. Besides
 * wall-clock MB/s it reports MB per second of process CPU time (all threads: both nodes, GC, JIT), which stays
 * meaningful on a loaded machine. Not part of the normal test run; run it with
 * {@code ./dev mvn -q -B -o -pl p2p test -Dtest=LoopbackBenchmark -Dparallax.bench=true}.
 */
@EnabledIfSystemProperty(named = "parallax.bench", matches = "true")
class LoopbackBenchmark {
    private static final int BLOCK = 64 << 20;

    private static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    @Test
    void throughputAndPing() throws Exception {
        try (P2pNode a = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")).start();
             P2pNode b = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")).start()) {
            b.handle("/bench/sink/1.0.0", () -> new StreamHandler() {
                long bytes;

                @Override
                public void onData(P2pStream stream, ByteBuf data) {
                    bytes += data.readableBytes();
                }

                @Override
                public void onRemoteClose(P2pStream stream) {
                    stream.write(Unpooled.copyLong(bytes));
                    stream.closeWrite();
                }
            });
            ByteBuffer destination = ByteBuffer.allocateDirect(1 << 20);
            b.handle("/bench/frames/1.0.0", () -> FrameStream.receiver(1 << 20, new FrameStream.Sink() {
                long bytes;

                @Override
                public void onFrame(P2pStream stream, ByteBuf frame) {
                    // what a consumer does with an activation: put it where the next computation reads it
                    frame.getBytes(frame.readerIndex(), destination.clear().limit(frame.readableBytes()));
                    bytes += frame.readableBytes();
                }

                @Override
                public void onEnd(P2pStream stream) {
                    stream.write(Unpooled.copyLong(bytes));
                    stream.closeWrite();
                }
            }));
            a.dial(b.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
            ByteBuf block = Unpooled.directBuffer(BLOCK).writeZero(BLOCK);

            for (int round = 0; round < 2; round++) { // the first round warms up the JIT
                boolean report = round == 1;
                run(a, b, "raw stream", "/bench/sink/1.0.0", block, 16, 0, report);
                run(a, b, "1 MiB frames, copied out", "/bench/frames/1.0.0", block, 16, 1 << 20, report);
                run(a, b, "64 KiB frames, copied out", "/bench/frames/1.0.0", block, 8, 64 << 10, report);
            }
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
            System.out.printf("libp2p ping RTT (new stream each, %d pings): median %.0f us, p90 %.0f us%n", rtt.length,
                    rtt[rtt.length / 2] / 1e3, rtt[rtt.length * 9 / 10] / 1e3);
        }
    }

    /** Sends {@code rounds} blocks on one stream, as raw bytes or as frames of {@code frameBytes}. */
    private static void run(P2pNode a, P2pNode b, String name, String protocol, ByteBuf block, int rounds,
                            int frameBytes, boolean report) throws Exception {
        CompletableFuture<Long> received = new CompletableFuture<>();
        P2pStream s = a.openStream(b.peerId(), protocol, (st, d) -> received.complete(d.getLong(d.readerIndex())))
                .get(5, TimeUnit.SECONDS);
        long cpu0 = cpuNanos();
        long t0 = System.nanoTime();
        for (int i = 0; i < rounds; i++) {
            if (frameBytes == 0) {
                ChunkedWriter.write(s, block.retainedDuplicate()).get(60, TimeUnit.SECONDS);
            } else {
                CompletableFuture<Void> last = null;
                for (int at = 0; at < BLOCK; at += frameBytes) {
                    last = FrameStream.send(s, block.retainedSlice(at, frameBytes));
                    while (s.pendingWriteBytes() > ChunkedWriter.DEFAULT_MAX_IN_FLIGHT) {
                        Thread.onSpinWait();
                    }
                }
                last.get(60, TimeUnit.SECONDS);
            }
        }
        s.closeWrite();
        long bytes = received.get(60, TimeUnit.SECONDS);
        double seconds = (System.nanoTime() - t0) / 1e9;
        double cpuSeconds = (cpuNanos() - cpu0) / 1e9;
        if (bytes != (long) rounds * BLOCK) {
            throw new AssertionError(name + ": received " + bytes + " of " + (long) rounds * BLOCK + " bytes");
        }
        if (report) {
            System.out.printf("%-26s %5d MiB in %5.2f s = %4.0f MB/s wall; %5.2f CPU-s = %4.0f MB per CPU-second%n",
                    name + ":", bytes >> 20, seconds, bytes / 1e6 / seconds, cpuSeconds, bytes / 1e6 / cpuSeconds);
        }
    }
}
