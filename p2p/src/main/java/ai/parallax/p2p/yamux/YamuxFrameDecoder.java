package ai.parallax.p2p.yamux;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;

import java.util.List;

/**
 * Splits the byte stream into {@link YamuxFrame}s. A Data frame longer than {@code maxDataLength} (the largest
 * receive window we ever grant) is refused before it is buffered, so a peer cannot make us hold more than that.
 */
public final class YamuxFrameDecoder extends ByteToMessageDecoder {
    private final int maxDataLength;

    public YamuxFrameDecoder(int maxDataLength) {
        this.maxDataLength = maxDataLength;
        // Frames are handed on as slices of what arrived; composing partial reads avoids copying them together.
        setCumulator(COMPOSITE_CUMULATOR);
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
        while (in.readableBytes() >= YamuxFrame.HEADER_BYTES) {
            int at = in.readerIndex();
            int version = in.getUnsignedByte(at);
            int type = in.getUnsignedByte(at + 1);
            int flags = in.getUnsignedShort(at + 2);
            int streamId = in.getInt(at + 4);
            long length = in.getUnsignedInt(at + 8);
            if (version != 0) {
                throw new YamuxException("frame has version " + version + "; only 0 exists");
            }
            if (type > YamuxFrame.TYPE_GO_AWAY) {
                throw new YamuxException("frame has unknown type " + type);
            }
            if (type != YamuxFrame.TYPE_DATA) {
                in.skipBytes(YamuxFrame.HEADER_BYTES);
                out.add(new YamuxFrame(type, flags, streamId, length, null));
                continue;
            }
            if (length > maxDataLength) {
                throw new YamuxException("data frame of " + length + " bytes exceeds the largest window we grant ("
                        + maxDataLength + ")");
            }
            if (in.readableBytes() < YamuxFrame.HEADER_BYTES + length) {
                return;
            }
            in.skipBytes(YamuxFrame.HEADER_BYTES);
            out.add(new YamuxFrame(type, flags, streamId, length, in.readRetainedSlice((int) length)));
        }
    }
}
