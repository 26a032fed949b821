package ai.parallax.p2p.noise;

import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.identity.PeerId;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;

import java.util.List;

/**
 * Runs the libp2p Noise XX handshake on a channel (libp2p noise spec, "Wire Format": every message is prefixed by
 * its length as a 2-byte big-endian integer). When the remote's identity is proven it replaces itself with the
 * {@link NoiseDecryptor} and {@link NoiseEncryptor} and calls {@link Listener#secured}; bytes that arrived after the
 * last handshake message flow on to the decryptor. Any failure is thrown, and the pipeline closes the connection.
 */
public final class NoiseHandshakeHandler extends ByteToMessageDecoder {
    /** Called on the event loop once the handshake succeeded and the transport handlers are in place. */
    public interface Listener {
        void secured(ChannelHandlerContext ctx, PeerId remote);
    }

    private final NoiseXXHandshake handshake;
    private final IdentityKeyPair identity;
    private final PeerId expectedRemote;
    private final Listener listener;
    private PeerId remote;

    /** {@code expectedRemote} may be null when dialing an address without /p2p, and is always null when accepting. */
    public NoiseHandshakeHandler(boolean initiator, IdentityKeyPair identity, PeerId expectedRemote, Listener listener) {
        this.handshake = new NoiseXXHandshake(initiator);
        this.identity = identity;
        this.expectedRemote = expectedRemote;
        this.listener = listener;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) throws Exception {
        if (handshake.isInitiator()) {
            send(ctx, handshake.writeMessage(new byte[0])); // -> e, with an empty payload (spec)
        }
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
        if (handshake.isComplete() || in.readableBytes() < 2) {
            return;
        }
        int length = in.getUnsignedShort(in.readerIndex());
        if (in.readableBytes() < 2 + length) {
            return;
        }
        in.skipBytes(2);
        byte[] message = new byte[length];
        in.readBytes(message);
        byte[] payload = handshake.readMessage(message);
        if (!handshake.isInitiator() && handshake.isComplete()) {
            remote = NoisePayload.decode(payload).verify(handshake.remoteStaticKey(), expectedRemote); // message 3
        } else if (handshake.isInitiator()) { // message 2: the responder proves itself first
            remote = NoisePayload.decode(payload).verify(handshake.remoteStaticKey(), expectedRemote);
            send(ctx, handshake.writeMessage(NoisePayload.sign(identity, handshake.localStaticKey()).encode()));
        } else { // message 1 read; answer with message 2
            send(ctx, handshake.writeMessage(NoisePayload.sign(identity, handshake.localStaticKey()).encode()));
        }
        if (handshake.isComplete()) {
            NoiseXXHandshake.TransportKeys keys = handshake.split();
            ctx.pipeline().addAfter(ctx.name(), "noise-decrypt", new NoiseDecryptor(keys.receive()));
            ctx.pipeline().addAfter(ctx.name(), "noise-encrypt", new NoiseEncryptor(keys.send()));
            listener.secured(ctx, remote);
            ctx.pipeline().remove(this); // forwards any bytes that followed the handshake to the decryptor
        }
    }

    private static void send(ChannelHandlerContext ctx, byte[] message) {
        ByteBuf buf = ctx.alloc().buffer(2 + message.length);
        buf.writeShort(message.length);
        buf.writeBytes(message);
        ctx.writeAndFlush(buf);
    }
}
