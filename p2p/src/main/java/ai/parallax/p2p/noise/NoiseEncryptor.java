package ai.parallax.p2p.noise;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.MessageToByteEncoder;

/**
 * Encrypts outbound bytes into Noise transport messages of at most 65535 bytes each (65519 of plaintext plus the
 * tag). Each message's plaintext is gathered into a reusable heap array, encrypted there in place (the JDK's
 * ChaCha20-Poly1305 copies nothing for arrays, but copies direct buffers in and out through a fresh array per call),
 * and written once into the direct outbound buffer the socket sends from.
 */
public final class NoiseEncryptor extends MessageToByteEncoder<ByteBuf> {
    /** Largest plaintext per message: the 2-byte length field allows 65535 bytes, minus the 16-byte tag. */
    public static final int MAX_PLAINTEXT = 65535 - CipherState.TAG_LENGTH;

    private final CipherState cipher;
    private final byte[] scratch = new byte[MAX_PLAINTEXT + CipherState.TAG_LENGTH];

    NoiseEncryptor(CipherState cipher) {
        super(ByteBuf.class, true);
        this.cipher = cipher;
    }

    @Override
    protected ByteBuf allocateBuffer(ChannelHandlerContext ctx, ByteBuf msg, boolean preferDirect) {
        int n = msg.readableBytes();
        int messages = Math.max(1, (n + MAX_PLAINTEXT - 1) / MAX_PLAINTEXT);
        return ctx.alloc().directBuffer(n + messages * (2 + CipherState.TAG_LENGTH));
    }

    @Override
    protected void encode(ChannelHandlerContext ctx, ByteBuf msg, ByteBuf out) throws Exception {
        do {
            int n = Math.min(msg.readableBytes(), MAX_PLAINTEXT);
            out.writeShort(n + CipherState.TAG_LENGTH);
            msg.readBytes(scratch, 0, n);
            cipher.encryptInPlace(scratch, 0, n);
            out.writeBytes(scratch, 0, n + CipherState.TAG_LENGTH);
        } while (msg.isReadable());
    }
}
