package ai.parallax.p2p.multistream;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;

import java.util.List;
import java.util.function.Predicate;

/**
 * Negotiates one protocol on a channel with multistream-select, then installs the handlers of the chosen protocol
 * through {@link Listener#selected} and removes itself; bytes that followed the negotiation go on to them.
 */
public final class MultistreamSelectHandler extends ByteToMessageDecoder {
    /** Called on the event loop; it adds the protocol's handlers after {@code ctx}. */
    public interface Listener {
        void selected(ChannelHandlerContext ctx, String protocol) throws Exception;
    }

    private final List<String> proposals;
    private final Predicate<String> supported;
    private final Listener listener;
    private MultistreamNegotiator negotiator;
    private boolean started;

    private MultistreamSelectHandler(List<String> proposals, Predicate<String> supported, Listener listener) {
        this.proposals = proposals;
        this.supported = supported;
        this.listener = listener;
    }

    public static MultistreamSelectHandler initiator(List<String> protocols, Listener listener) {
        return new MultistreamSelectHandler(List.copyOf(protocols), null, listener);
    }

    public static MultistreamSelectHandler responder(List<String> protocols, Listener listener) {
        List<String> copy = List.copyOf(protocols);
        return new MultistreamSelectHandler(null, copy::contains, listener);
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        negotiator = proposals != null
                ? MultistreamNegotiator.initiator(proposals, ctx.alloc(), ctx::writeAndFlush)
                : MultistreamNegotiator.responder(supported, ctx.alloc(), ctx::writeAndFlush);
        if (ctx.channel().isActive()) {
            start();
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        start(); // an accepted channel is active before this handler sees channelActive: start only once
        super.channelActive(ctx);
    }

    private void start() {
        if (!started) {
            started = true;
            negotiator.start();
        }
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
        String protocol = negotiator.feed(in);
        if (protocol != null) {
            listener.selected(ctx, protocol);
            ctx.pipeline().remove(this);
        }
    }
}
