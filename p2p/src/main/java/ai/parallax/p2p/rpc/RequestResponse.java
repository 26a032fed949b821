package ai.parallax.p2p.rpc;

import ai.parallax.p2p.P2pException;
import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.P2pStream;
import ai.parallax.p2p.StreamHandler;
import ai.parallax.p2p.identity.PeerId;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Request/response over libp2p streams, for the control plane (join, heartbeat, leave, allocation, status): one
 * stream per exchange, carrying one {@link FrameCodec} frame each way. The requester half-closes after its request
 * and the responder after its answer, so neither side needs a message id or a separate end marker.
 */
public final class RequestResponse {
    /** Control messages are small; larger frames are refused to bound what a peer can make us buffer. */
    public static final int MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

    /** Answers one request; runs on the event loop, so slow work should complete the future from elsewhere. */
    public interface Handler {
        CompletableFuture<ByteBuf> handle(PeerId from, ByteBuf request);
    }

    private RequestResponse() {
    }

    public static void serve(P2pNode node, String protocol, Handler handler) {
        node.handle(protocol, () -> new OneFrame((stream, request) -> {
            CompletableFuture<ByteBuf> response;
            try {
                response = handler.handle(stream.remotePeer(), request);
            } catch (RuntimeException e) {
                response = CompletableFuture.failedFuture(e);
            } finally {
                request.release();
            }
            response.whenComplete((r, e) -> {
                if (e != null) {
                    stream.reset(); // the requester sees a reset stream, not a half-written answer
                } else {
                    stream.write(FrameCodec.frame(ByteBufAllocator.DEFAULT, r));
                    stream.closeWrite();
                }
            });
        }, null, MAX_MESSAGE_BYTES));
    }

    /** Sends {@code request} (taking ownership) and completes with the response, which the caller must release. */
    public static CompletableFuture<ByteBuf> request(P2pNode node, PeerId peer, String protocol, ByteBuf request,
                                                     Duration timeout) {
        return request(node, peer, protocol, request, MAX_MESSAGE_BYTES, timeout);
    }

    /** As {@link #request(P2pNode, PeerId, String, ByteBuf, Duration)}, refusing responses over {@code maxResponseBytes}. */
    public static CompletableFuture<ByteBuf> request(P2pNode node, PeerId peer, String protocol, ByteBuf request,
                                                     int maxResponseBytes, Duration timeout) {
        CompletableFuture<ByteBuf> response = new CompletableFuture<>();
        node.openStream(peer, protocol, new OneFrame((stream, frame) -> {
            if (!response.complete(frame)) {
                frame.release();
            }
        }, response, maxResponseBytes)).whenComplete((stream, e) -> {
            if (e != null) {
                request.release();
                response.completeExceptionally(e);
            } else {
                stream.write(FrameCodec.frame(ByteBufAllocator.DEFAULT, request));
                stream.closeWrite();
                response.whenComplete((r, x) -> {
                    if (x != null) {
                        stream.reset();
                    }
                });
            }
        });
        return response.orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Reads exactly one frame from a stream. */
    private static final class OneFrame implements StreamHandler {
        interface Sink {
            void accept(P2pStream stream, ByteBuf frame);
        }

        private final Sink sink;
        private final CompletableFuture<?> failures;
        private final int maxBytes;
        private FrameCodec.Reader reader;
        private boolean received;

        OneFrame(Sink sink, CompletableFuture<?> failures, int maxBytes) {
            this.sink = sink;
            this.failures = failures;
            this.maxBytes = maxBytes;
        }

        @Override
        public void onData(P2pStream stream, ByteBuf data) {
            if (received) {
                fail(stream, new P2pException("peer " + stream.remotePeer() + " sent more than one frame on "
                        + stream.protocol()));
                return;
            }
            if (reader == null) {
                reader = new FrameCodec.Reader(stream, ByteBufAllocator.DEFAULT, maxBytes, frame -> {
                    if (received) {
                        frame.release();
                        return;
                    }
                    received = true;
                    sink.accept(stream, frame);
                });
            }
            try {
                reader.feed(data);
            } catch (IllegalArgumentException e) {
                fail(stream, new P2pException("peer " + stream.remotePeer() + " on " + stream.protocol() + ": "
                        + e.getMessage(), e));
            }
        }

        @Override
        public void onRemoteClose(P2pStream stream) {
            close();
            if (!received) {
                fail(stream, new P2pException("peer " + stream.remotePeer() + " closed " + stream.protocol()
                        + " before a whole message"));
            }
        }

        @Override
        public void onReset(P2pStream stream, Throwable cause) {
            close();
            if (failures != null) {
                failures.completeExceptionally(new P2pException("peer " + stream.remotePeer() + " reset "
                        + stream.protocol() + " without answering", cause));
            }
        }

        private void fail(P2pStream stream, P2pException e) {
            close();
            if (failures != null) {
                failures.completeExceptionally(e);
            }
            stream.reset();
        }

        private void close() {
            if (reader != null) {
                reader.close();
                reader = null;
            }
        }
    }
}
