package ai.parallax.p2p.rpc;

import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.P2pStream;
import ai.parallax.p2p.StreamHandler;
import ai.parallax.p2p.identity.IdentityKeyPair;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The cluster's protocols between two of our nodes over real loopback TCP. */
class ClusterProtocolsTest {
    private P2pNode scheduler;
    private P2pNode worker;

    @BeforeEach
    void start() throws Exception {
        scheduler = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")).start();
        worker = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")).start();
    }

    @AfterEach
    void stop() {
        worker.close();
        scheduler.close();
    }

    @Test
    void requestResponseRoundTrip() throws Exception {
        RequestResponse.serve(scheduler, ParallaxProtocols.JOIN, (from, request) -> CompletableFuture.completedFuture(
                Unpooled.copiedBuffer("welcome " + request.toString(StandardCharsets.UTF_8) + " from " + from.toString().substring(0, 12),
                        StandardCharsets.UTF_8)));
        worker.dial(scheduler.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
        ByteBuf response = RequestResponse.request(worker, scheduler.peerId(), ParallaxProtocols.JOIN,
                Unpooled.copiedBuffer("node-7", StandardCharsets.UTF_8), Duration.ofSeconds(5)).get(5, TimeUnit.SECONDS);
        assertThat(response.toString(StandardCharsets.UTF_8))
                .isEqualTo("welcome node-7 from " + worker.peerId().toString().substring(0, 12));
        response.release();
    }

    @Test
    void failingHandlerResetsTheRequestNotTheConnection() throws Exception {
        RequestResponse.serve(scheduler, ParallaxProtocols.STATUS, (from, request) -> {
            throw new IllegalStateException("no status yet");
        });
        RequestResponse.serve(scheduler, ParallaxProtocols.HEARTBEAT, (from, request) ->
                CompletableFuture.completedFuture(Unpooled.wrappedBuffer(new byte[] {1})));
        worker.dial(scheduler.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
        assertThatThrownBy(() -> RequestResponse.request(worker, scheduler.peerId(), ParallaxProtocols.STATUS,
                Unpooled.buffer(0), Duration.ofSeconds(5)).get(5, TimeUnit.SECONDS)).hasMessageContaining("reset");
        ByteBuf ok = RequestResponse.request(worker, scheduler.peerId(), ParallaxProtocols.HEARTBEAT,
                Unpooled.buffer(0), Duration.ofSeconds(5)).get(5, TimeUnit.SECONDS);
        assertThat(ok.readByte()).isEqualTo((byte) 1);
        ok.release();
    }

    @Test
    void hundredConcurrentStreams() throws Exception {
        RequestResponse.serve(scheduler, ParallaxProtocols.HEARTBEAT, (from, request) -> {
            ByteBuf reply = Unpooled.buffer();
            reply.writeInt(request.readInt() * 3);
            return CompletableFuture.completedFuture(reply);
        });
        worker.dial(scheduler.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
        List<CompletableFuture<ByteBuf>> replies = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            ByteBuf req = Unpooled.buffer(4).writeInt(i);
            replies.add(RequestResponse.request(worker, scheduler.peerId(), ParallaxProtocols.HEARTBEAT, req,
                    Duration.ofSeconds(10)));
        }
        for (int i = 0; i < 100; i++) {
            ByteBuf r = replies.get(i).get(10, TimeUnit.SECONDS);
            assertThat(r.readInt()).isEqualTo(i * 3);
            r.release();
        }
    }

    @Test
    void quarterGigabyteStreamArrivesIntact() throws Exception {
        long total = 256L * 1024 * 1024;
        CompletableFuture<long[]> received = new CompletableFuture<>();
        scheduler.handle("/test/sink/1.0.0", () -> new StreamHandler() {
            final CRC32C crc = new CRC32C();
            long bytes;

            @Override
            public void onData(P2pStream stream, ByteBuf data) {
                bytes += data.readableBytes();
                crc.update(data.nioBuffer());
            }

            @Override
            public void onRemoteClose(P2pStream stream) {
                received.complete(new long[] {bytes, crc.getValue()});
                stream.closeWrite();
            }
        });
        worker.dial(scheduler.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
        P2pStream s = worker.openStream(scheduler.peerId(), "/test/sink/1.0.0", (st, d) -> { }).get(5, TimeUnit.SECONDS);

        // 16 MiB of random bytes sent 16 times with a running offset mixed in, so no two blocks are alike.
        byte[] block = new byte[16 * 1024 * 1024];
        new Random(42).nextBytes(block);
        CRC32C expected = new CRC32C();
        long start = System.nanoTime();
        for (int i = 0; i < total / block.length; i++) {
            block[i] ^= (byte) 0x5A;
            expected.update(block);
            ChunkedWriter.write(s, Unpooled.copiedBuffer(block)).get(30, TimeUnit.SECONDS);
        }
        s.closeWrite();
        long[] got = received.get(60, TimeUnit.SECONDS);
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("256 MiB over one stream in %.2f s: %.0f MB/s%n", seconds, total / 1e6 / seconds);
        assertThat(got[0]).isEqualTo(total);
        assertThat(got[1]).isEqualTo(expected.getValue());
    }

    @Test
    void tokenFramesArriveInOrderAndOversizedFramesResetTheStream() throws Exception {
        List<Integer> tokens = new java.util.concurrent.CopyOnWriteArrayList<>();
        CompletableFuture<Void> ended = new CompletableFuture<>();
        scheduler.handle(ParallaxProtocols.TOKENS, () -> FrameStream.receiver(64, new FrameStream.Sink() {
            @Override
            public void onFrame(P2pStream stream, ByteBuf frame) {
                tokens.add(frame.readInt());
            }

            @Override
            public void onEnd(P2pStream stream) {
                ended.complete(null);
            }
        }));
        worker.dial(scheduler.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
        CompletableFuture<Void> reset = new CompletableFuture<>();
        P2pStream s = worker.openStream(scheduler.peerId(), ParallaxProtocols.TOKENS, new StreamHandler() {
            @Override
            public void onData(P2pStream stream, ByteBuf data) {
            }

            @Override
            public void onReset(P2pStream stream, Throwable cause) {
                reset.complete(null);
            }
        }).get(5, TimeUnit.SECONDS);
        for (int i = 0; i < 1000; i++) {
            FrameStream.send(s, Unpooled.buffer(4).writeInt(i));
        }
        FrameStream.send(s, Unpooled.wrappedBuffer(new byte[65])).get(5, TimeUnit.SECONDS); // over the 64-byte limit
        reset.get(5, TimeUnit.SECONDS);
        ended.get(5, TimeUnit.SECONDS);
        assertThat(tokens).hasSize(1000);
        for (int i = 0; i < 1000; i++) {
            assertThat(tokens.get(i)).isEqualTo(i);
        }
    }

    @Test
    void tensorsArriveWithDtypeShapeAndBytes() throws Exception {
        List<TensorHeader> headers = new ArrayList<>();
        List<float[]> values = new ArrayList<>();
        CompletableFuture<Void> two = new CompletableFuture<>();
        scheduler.handle(ParallaxProtocols.ACTIVATIONS, () -> new TensorStream.Receiver(
                h -> ByteBuffer.allocateDirect((int) h.byteLength()), 64L * 1024 * 1024,
                (stream, header, data) -> {
                    headers.add(header);
                    float[] f = new float[(int) (header.byteLength() / 4)];
                    data.order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
                    values.add(f);
                    if (values.size() == 2) {
                        two.complete(null);
                    }
                }));
        worker.dial(scheduler.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
        P2pStream s = worker.openStream(scheduler.peerId(), ParallaxProtocols.ACTIVATIONS, (st, d) -> { })
                .get(5, TimeUnit.SECONDS);
        float[] big = new float[3 * 1000 * 200]; // 2.4 MB: many chunks, several window updates
        for (int i = 0; i < big.length; i++) {
            big[i] = i * 0.5f;
        }
        ByteBuffer bigBytes = ByteBuffer.allocate(big.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        bigBytes.asFloatBuffer().put(big);
        ByteBuffer small = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(1.5f).putFloat(-2f).flip();
        TensorStream.send(s, TensorHeader.of(TensorHeader.DType.F32, 3, 1000, 200), bigBytes);
        TensorStream.send(s, TensorHeader.of(TensorHeader.DType.F32, 1, 2), small).get(10, TimeUnit.SECONDS);
        two.get(10, TimeUnit.SECONDS);
        assertThat(headers).containsExactly(TensorHeader.of(TensorHeader.DType.F32, 3, 1000, 200),
                TensorHeader.of(TensorHeader.DType.F32, 1, 2));
        assertThat(java.util.Arrays.equals(values.get(0), big)).as("600k floats arrive unchanged").isTrue();
        assertThat(values.get(1)).containsExactly(1.5f, -2f);
    }

    @Test
    void lendingReceiverHandsOverTheDecryptedBytesIntact() throws Exception {
        List<TensorHeader> headers = new ArrayList<>();
        List<float[]> values = new ArrayList<>();
        CompletableFuture<Void> two = new CompletableFuture<>();
        scheduler.handle(ParallaxProtocols.ACTIVATIONS, () -> TensorStream.Receiver.lending(64L * 1024 * 1024,
                (stream, header, data) -> {
                    headers.add(header);
                    float[] f = new float[(int) (header.byteLength() / 4)];
                    for (int i = 0; i < f.length; i++) {
                        f[i] = data.getFloatLE(data.readerIndex() + 4 * i);
                    }
                    values.add(f);
                    if (values.size() == 2) {
                        two.complete(null);
                    }
                }));
        worker.dial(scheduler.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
        P2pStream s = worker.openStream(scheduler.peerId(), ParallaxProtocols.ACTIVATIONS, (st, d) -> { })
                .get(5, TimeUnit.SECONDS);
        float[] big = new float[3 * 1000 * 200];
        for (int i = 0; i < big.length; i++) {
            big[i] = i * -0.25f;
        }
        ByteBuffer bigBytes = ByteBuffer.allocate(big.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        bigBytes.asFloatBuffer().put(big);
        ByteBuffer small = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(3f).putFloat(4f).flip();
        TensorStream.send(s, TensorHeader.of(TensorHeader.DType.F32, 3, 1000, 200), bigBytes);
        TensorStream.send(s, TensorHeader.of(TensorHeader.DType.F32, 1, 2), small).get(10, TimeUnit.SECONDS);
        two.get(10, TimeUnit.SECONDS);
        assertThat(headers).containsExactly(TensorHeader.of(TensorHeader.DType.F32, 3, 1000, 200),
                TensorHeader.of(TensorHeader.DType.F32, 1, 2));
        assertThat(java.util.Arrays.equals(values.get(0), big)).as("600k floats arrive unchanged").isTrue();
        assertThat(values.get(1)).containsExactly(3f, 4f);
        assertThat(scheduler.heldReceiveBytes()).as("finished tensors return their budget").isZero();
    }
}
