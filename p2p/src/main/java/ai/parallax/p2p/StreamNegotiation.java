package ai.parallax.p2p;

import ai.parallax.p2p.multistream.MultistreamException;
import ai.parallax.p2p.multistream.MultistreamNegotiator;
import ai.parallax.p2p.yamux.YamuxStream;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * Runs multistream-select on a new Yamux stream, buffering partial messages, then hands the stream to the handler
 * of the agreed protocol; bytes that arrived with the last negotiation message go to that handler first.
 */
final class StreamNegotiation implements StreamHandler {
    private final MultistreamNegotiator negotiator;
    private final Function<String, StreamHandler> handlers;
    private final CompletableFuture<P2pStream> result;
    private ByteBuf buffer;
    private StreamHandler chosen;

    private StreamNegotiation(YamuxStream stream, List<String> proposals, Function<String, StreamHandler> handlers,
                              CompletableFuture<P2pStream> result) {
        ByteBufAllocator alloc = ByteBufAllocator.DEFAULT;
        this.negotiator = proposals != null
                ? MultistreamNegotiator.initiator(proposals, alloc, stream::write)
                : MultistreamNegotiator.responder(p -> (chosen = handlers.apply(p)) != null, alloc, stream::write);
        this.handlers = handlers;
        this.result = result;
    }

    /** Proposes {@code protocol} on an outbound stream; {@code handler} takes over once the peer agrees. */
    static CompletableFuture<P2pStream> initiate(YamuxStream stream, String protocol, StreamHandler handler) {
        CompletableFuture<P2pStream> result = new CompletableFuture<>();
        StreamNegotiation n = new StreamNegotiation(stream, List.of(protocol), p -> handler, result);
        stream.handler(n);
        n.negotiator.start();
        return result;
    }

    /** Answers proposals on an inbound stream with the handlers {@code handlers} returns (null: not supported). */
    static void respond(YamuxStream stream, Function<String, StreamHandler> handlers) {
        StreamNegotiation n = new StreamNegotiation(stream, null, handlers, new CompletableFuture<>());
        stream.handler(n);
        n.negotiator.start();
    }

    @Override
    public void onData(P2pStream s, ByteBuf data) {
        YamuxStream stream = (YamuxStream) s;
        if (buffer == null) {
            buffer = Unpooled.buffer(data.readableBytes());
        }
        buffer.writeBytes(data);
        if (buffer.readableBytes() > 4 * MultistreamNegotiator.MAX_MESSAGE_BYTES) {
            fail(stream, new MultistreamException("more than " + 4 * MultistreamNegotiator.MAX_MESSAGE_BYTES
                    + " bytes of negotiation without agreement"));
            return;
        }
        String protocol;
        try {
            protocol = negotiator.feed(buffer);
        } catch (MultistreamException e) {
            fail(stream, e);
            return;
        }
        if (protocol == null) {
            return;
        }
        // the responder created its handler while deciding to accept; the initiator's was given up front
        StreamHandler next = chosen != null ? chosen : handlers.apply(protocol);
        stream.protocol(protocol);
        stream.handler(next);
        ByteBuf rest = buffer;
        buffer = null;
        next.onOpen(stream);
        result.complete(stream);
        if (rest.isReadable()) {
            next.onData(stream, rest);
        }
        rest.release();
    }

    @Override
    public void onRemoteClose(P2pStream stream) {
        fail((YamuxStream) stream, new MultistreamException("the peer closed the stream during negotiation"));
    }

    @Override
    public void onReset(P2pStream stream, Throwable cause) {
        release();
        result.completeExceptionally(new P2pException("stream to " + stream.remotePeer() + " was reset during"
                + " protocol negotiation", cause));
    }

    private void fail(YamuxStream stream, Exception cause) {
        release();
        result.completeExceptionally(new P2pException("protocol negotiation with " + stream.remotePeer() + " failed: "
                + cause.getMessage(), cause));
        stream.reset();
    }

    private void release() {
        if (buffer != null) {
            buffer.release();
            buffer = null;
        }
    }
}
