package ai.parallax.p2p.noise;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;

import java.util.List;

/**
 * Decrypts Noise transport messages: a 2-byte big-endian length, then ChaChaPoly ciphertext with its 16-byte tag.
 * The length field itself caps a message at 65535 bytes, which bounds what a peer can make us buffer.
 */
public final class NoiseDecryptor extends ByteToMessageDecoder {
    private final CipherState cipher;

    NoiseDecryptor(CipherState cipher) {
        this.cipher = cipher;
        // Socket reads rarely align with 64 KiB messages; composing them instead of merging saves a copy, and the
        // cipher reads the parts in place.
        setCumulator(COMPOSITE_CUMULATOR);
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
        while (in.readableBytes() >= 2) {
            int length = in.getUnsignedShort(in.readerIndex());
            if (in.readableBytes() < 2 + length) {
                return;
            }
            if (length < CipherState.TAG_LENGTH) {
                throw new NoiseException("transport message of " + length + " bytes is shorter than its 16-byte tag");
            }
            ByteBuf plain = ctx.alloc().directBuffer(length - CipherState.TAG_LENGTH);
            try {
                cipher.decrypt(in.nioBuffers(in.readerIndex() + 2, length),
                        plain.nioBuffer(0, length - CipherState.TAG_LENGTH));
            } catch (NoiseException e) {
                plain.release();
                throw e;
            }
            plain.writerIndex(length - CipherState.TAG_LENGTH);
            in.skipBytes(2 + length);
            out.add(plain);
        }
    }
}
