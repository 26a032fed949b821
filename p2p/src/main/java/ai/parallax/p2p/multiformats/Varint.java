package ai.parallax.p2p.multiformats;

import io.netty.buffer.ByteBuf;

import java.io.ByteArrayOutputStream;

/**
 * Unsigned LEB128 varints as the multiformats unsigned-varint spec defines them: 7 bits per byte, least significant
 * group first, at most 9 bytes (63 bits), and minimal encoding only, so that every value has exactly one form.
 */
public final class Varint {
    /** The multiformats spec caps varints at 9 bytes, which carries 63 bits. */
    public static final int MAX_BYTES = 9;

    /** Returned by {@link #tryRead} when the buffer does not yet hold a whole varint. */
    public static final long INCOMPLETE = -1;

    private Varint() {
    }

    /** Bytes that {@code value} takes once encoded. */
    public static int size(long value) {
        requireNonNegative(value);
        int n = 1;
        while ((value >>>= 7) != 0) {
            n++;
        }
        return n;
    }

    public static void write(long value, ByteBuf out) {
        requireNonNegative(value);
        while ((value & ~0x7FL) != 0) {
            out.writeByte((int) ((value & 0x7F) | 0x80));
            value >>>= 7;
        }
        out.writeByte((int) value);
    }

    public static void write(long value, ByteArrayOutputStream out) {
        requireNonNegative(value);
        while ((value & ~0x7FL) != 0) {
            out.write((int) ((value & 0x7F) | 0x80));
            value >>>= 7;
        }
        out.write((int) value);
    }

    public static byte[] encode(long value) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(MAX_BYTES);
        write(value, out);
        return out.toByteArray();
    }

    /**
     * Reads a varint at the reader index without consuming it when incomplete: returns {@link #INCOMPLETE} and leaves
     * the reader index alone if the buffer ends first, otherwise consumes the varint and returns it.
     *
     * @throws IllegalArgumentException if the varint is longer than 9 bytes or not minimally encoded
     */
    public static long tryRead(ByteBuf in) {
        int start = in.readerIndex();
        long value = 0;
        for (int i = 0; i < MAX_BYTES; i++) {
            if (!in.isReadable()) {
                in.readerIndex(start);
                return INCOMPLETE;
            }
            int b = in.readByte() & 0xFF;
            value |= (long) (b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0) {
                if (b == 0 && i > 0) {
                    throw new IllegalArgumentException("varint is not minimally encoded (trailing zero byte)");
                }
                return value;
            }
        }
        throw new IllegalArgumentException("varint is longer than " + MAX_BYTES + " bytes");
    }

    /** Reads a whole varint from {@code bytes} at {@code offset[0]}, advancing it. */
    public static long read(byte[] bytes, int[] offset) {
        long value = 0;
        for (int i = 0; i < MAX_BYTES; i++) {
            if (offset[0] >= bytes.length) {
                throw new IllegalArgumentException("varint is truncated at byte " + offset[0]);
            }
            int b = bytes[offset[0]++] & 0xFF;
            value |= (long) (b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0) {
                if (b == 0 && i > 0) {
                    throw new IllegalArgumentException("varint is not minimally encoded (trailing zero byte)");
                }
                return value;
            }
        }
        throw new IllegalArgumentException("varint is longer than " + MAX_BYTES + " bytes");
    }

    private static void requireNonNegative(long value) {
        if (value < 0) {
            throw new IllegalArgumentException("unsigned varint cannot encode the negative value " + value);
        }
    }
}
