package ai.parallax.p2p.yamux;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/**
 * A Yamux frame (hashicorp yamux spec, as libp2p uses it): a 12-byte big-endian header of version (0), type, flags,
 * stream id and length, then {@code length} bytes of data for Data frames only. For window updates the length is the
 * window delta, for pings an opaque value, for go-away the error code.
 *
 * @param data the payload of a Data frame (owned by the frame), otherwise null
 */
public record YamuxFrame(int type, int flags, int streamId, long length, ByteBuf data) {
    public static final int HEADER_BYTES = 12;
    public static final int TYPE_DATA = 0;
    public static final int TYPE_WINDOW_UPDATE = 1;
    public static final int TYPE_PING = 2;
    public static final int TYPE_GO_AWAY = 3;
    public static final int FLAG_SYN = 1;
    public static final int FLAG_ACK = 2;
    public static final int FLAG_FIN = 4;
    public static final int FLAG_RST = 8;
    public static final int GO_AWAY_NORMAL = 0;
    public static final int GO_AWAY_PROTOCOL_ERROR = 1;
    public static final int GO_AWAY_INTERNAL_ERROR = 2;

    public boolean has(int flag) {
        return (flags & flag) != 0;
    }

    static ByteBuf header(ByteBufAllocator alloc, int type, int flags, int streamId, long length) {
        ByteBuf b = alloc.buffer(HEADER_BYTES);
        b.writeByte(0);
        b.writeByte(type);
        b.writeShort(flags);
        b.writeInt(streamId);
        b.writeInt((int) length);
        return b;
    }

    @Override
    public String toString() {
        return "YamuxFrame[type=" + type + ", flags=" + flags + ", stream=" + streamId + ", length=" + length + "]";
    }
}
