package ai.parallax.p2p.noise;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;

import java.util.List;

/**
 * Decrypts Noise transport messages: a 2-byte big-endian length, then ChaChaPoly ciphertext with its 16-byte tag.
 * The length field itself caps a message at 65535 bytes, which bounds what a peer can make us buffer.
 *
 * <p>Each message is gathered from the socket buffers into a pooled heap buffer (the one copy on this side) and
 * decrypted there in place; the plaintext goes up the pipeline as a slice of that buffer, so Yamux and the stream
 * handlers see the decrypted bytes where they were decrypted, without another copy.
 */
public final class NoiseDecryptor extends ByteToMessageDecoder {
    private final CipherState cipher;

    NoiseDecryptor(CipherState cipher) {
        this.cipher = cipher;
        // Socket reads rarely align with 64 KiB messages; composing them instead of merging saves a copy before the
        // gather below.
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
            ByteBuf message = ctx.alloc().heapBuffer(length);
            try {
                in.getBytes(in.readerIndex() + 2, message.array(), message.arrayOffset(), length);
                int plain = cipher.decryptInPlace(message.array(), message.arrayOffset(), length);
                message.writerIndex(plain);
            } catch (NoiseException e) {
                message.release();
                throw e;
            }
            in.skipBytes(2 + length);
            out.add(message);
        }
    }
}
