package ai.parallax.p2p;

import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.multiformats.Varint;
import ai.parallax.p2p.rpc.ParallaxProtocols;
import ai.parallax.p2p.rpc.RequestResponse;
import ai.parallax.p2p.yamux.YamuxConfig;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.util.internal.PlatformDependent;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Peers that try to make a node hold memory: streams whose frames never finish, and control frames sent while our
 * answers are never read. The node's held bytes and the allocator's memory stay bounded, and another peer is served
 * all along.
 */
class BoundedMemoryTest {
    private static final int MiB = 1024 * 1024;
    private static final long HELD_PER_CONNECTION = 8L * MiB;

    private P2pNode node;
    private P2pNode attacker;
    private P2pNode goodPeer;

    @BeforeEach
    void start() throws Exception {
        node = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")
                .withYamux(YamuxConfig.DEFAULT.withMaxHeldBytes(HELD_PER_CONNECTION))
                .withReceiveBudget(16L * MiB)).start();
        RequestResponse.serve(node, ParallaxProtocols.STATUS, (from, request) ->
                CompletableFuture.completedFuture(Unpooled.copiedBuffer("status ok", StandardCharsets.UTF_8)));
        attacker = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")).start();
        goodPeer = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")).start();
        goodPeer.dial(node.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() {
        attacker.close();
        goodPeer.close();
        node.close();
    }

    private static long allocatorBytes() {
        var m = PooledByteBufAllocator.DEFAULT.metric();
        return m.usedDirectMemory() + m.usedHeapMemory() + PlatformDependent.usedDirectMemory();
    }

    private String askStatus() throws Exception {
        ByteBuf reply = RequestResponse.request(goodPeer, node.peerId(), ParallaxProtocols.STATUS,
                Unpooled.copiedBuffer("?", StandardCharsets.UTF_8), Duration.ofSeconds(10)).get(10, TimeUnit.SECONDS);
        try {
            return reply.toString(StandardCharsets.UTF_8);
        } finally {
            reply.release();
        }
    }

    @Test
    void streamsWhoseFramesNeverFinishStayWithinTheReceiveBudget() throws Exception {
        P2pConnection c = attacker.dial(node.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
        assertThat(askStatus()).isEqualTo("status ok");
        System.gc();
        long before = allocatorBytes();
        AtomicLong peakHeld = new AtomicLong();
        AtomicLong peakAllocator = new AtomicLong();
        AtomicInteger resets = new AtomicInteger();
        int streams = 200;
        ByteBuf megabyte = Unpooled.directBuffer(MiB).writeZero(MiB);
        List<CompletableFuture<Void>> writes = new ArrayList<>();
        for (int i = 0; i < streams; i++) {
            P2pStream s = attacker.openStream(c, ParallaxProtocols.STATUS, new StreamHandler() {
                @Override
                public void onData(P2pStream stream, ByteBuf data) {
                }

                @Override
                public void onReset(P2pStream stream, Throwable cause) {
                    resets.incrementAndGet();
                }
            }).get(5, TimeUnit.SECONDS);
            // announce a 4 MiB request (the protocol allows it), send 1 MiB of it, and never the rest
            ByteBuf prefix = Unpooled.buffer(5);
            Varint.write(4 * MiB - 1, prefix);
            s.write(prefix);
            writes.add(s.write(megabyte.retainedDuplicate()).exceptionally(e -> null));
            peakHeld.accumulateAndGet(node.heldReceiveBytes(), Math::max);
            peakAllocator.accumulateAndGet(allocatorBytes(), Math::max);
        }
        megabyte.release();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (resets.get() + Math.min(node.heldReceiveBytes() / MiB, streams) < streams && System.nanoTime() < deadline) {
            peakHeld.accumulateAndGet(node.heldReceiveBytes(), Math::max);
            peakAllocator.accumulateAndGet(allocatorBytes(), Math::max);
            Thread.sleep(10);
        }
        // the node kept serving another peer while under attack
        assertThat(askStatus()).isEqualTo("status ok");

        // 200 MiB were sent; only about the connection's budget is held, the other streams were reset
        assertThat(peakHeld.get()).isLessThanOrEqualTo(HELD_PER_CONNECTION);
        assertThat(resets.get()).isGreaterThanOrEqualTo(streams - (int) (HELD_PER_CONNECTION / MiB) - 1);
        assertThat(peakAllocator.get() - before).as("allocator growth, bytes").isLessThan(64L * MiB);
        System.out.printf("held peak %.1f MiB, allocator growth peak %.1f MiB, %d of %d streams reset%n",
                peakHeld.get() / (double) MiB, (peakAllocator.get() - before) / (double) MiB, resets.get(), streams);

        // closing the connection returns everything it held to the node's budget
        c.close();
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (node.heldReceiveBytes() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(node.heldReceiveBytes()).isZero();
    }

    @Test
    void peerSendingPingsWithoutReadingTheAnswersIsDisconnected() throws Exception {
        P2pConnection c = attacker.dial(node.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
        Channel ch = c.channel();
        ch.config().setAutoRead(false); // never read the node's ping acks
        Thread.sleep(100);
        System.gc();
        long before = allocatorBytes();
        long peak = 0;
        byte[] pings = new byte[12 * 8192];
        for (int i = 0; i < 8192; i++) {
            pings[12 * i + 1] = 2;  // type ping
            pings[12 * i + 3] = 1;  // flag SYN
            pings[12 * i + 11] = (byte) i;
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (node.connection(attacker.peerId()).isPresent() && System.nanoTime() < deadline) {
            if (ch.isActive()) {
                // keep what the attacker itself buffers small, so the measurement is about the node
                if (ch.unsafe().outboundBuffer() != null && ch.unsafe().outboundBuffer().totalPendingWriteBytes() < 4L * MiB) {
                    ch.writeAndFlush(Unpooled.wrappedBuffer(pings));
                }
            }
            assertThat(askStatus()).isEqualTo("status ok");
            peak = Math.max(peak, allocatorBytes());
            Thread.sleep(2);
        }
        assertThat(node.connection(attacker.peerId())).as("the flooding connection was closed").isEmpty();
        assertThat(peak - before).as("allocator growth, bytes").isLessThan(48L * MiB);
        assertThat(askStatus()).isEqualTo("status ok");
        System.out.printf("ping flood: connection closed, allocator growth peak %.1f MiB%n", (peak - before) / (double) MiB);
    }
}
