package ai.parallax.p2p.rpc;

import ai.parallax.p2p.multiformats.Varint;
import io.netty.buffer.ByteBuf;

import java.util.Arrays;

/**
 * What precedes a tensor's bytes on a data-plane stream: dtype, shape and byte count, in a {@link FrameCodec} frame
 * laid out as {@code u8 dtype, uvarint rank, uvarint dim × rank, uvarint byteLength}. The bytes follow unframed,
 * since their count is known, so the receiver can copy them straight into their destination.
 *
 * @param dtype      element type
 * @param shape      dimensions, outermost first
 * @param byteLength bytes of data that follow; checked against dtype and shape
 */
public record TensorHeader(DType dtype, long[] shape, long byteLength) {
    /** Element types on the wire. The codes are part of the protocol: never renumber them. */
    public enum DType {
        F32(1, 4), F16(2, 2), BF16(3, 2), I32(4, 4), I64(5, 8), U8(6, 1), I8(7, 1);

        final int code;
        final int bytes;

        DType(int code, int bytes) {
            this.code = code;
            this.bytes = bytes;
        }

        public int bytes() {
            return bytes;
        }

        static DType of(int code) {
            for (DType d : values()) {
                if (d.code == code) {
                    return d;
                }
            }
            throw new IllegalArgumentException("unknown tensor dtype code " + code);
        }
    }

    /** Ranks above this are not tensors we exchange; refusing them bounds header parsing. */
    public static final int MAX_RANK = 8;

    public TensorHeader {
        shape = shape.clone();
        if (shape.length > MAX_RANK) {
            throw new IllegalArgumentException("tensor rank " + shape.length + " exceeds " + MAX_RANK);
        }
        long elements = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("tensor shape " + Arrays.toString(shape) + " has a negative dimension");
            }
            elements = Math.multiplyExact(elements, d);
        }
        if (Math.multiplyExact(elements, dtype.bytes) != byteLength) {
            throw new IllegalArgumentException("tensor " + dtype + Arrays.toString(shape) + " needs "
                    + elements * dtype.bytes + " bytes, header says " + byteLength);
        }
    }

    public static TensorHeader of(DType dtype, long... shape) {
        long n = dtype.bytes;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return new TensorHeader(dtype, shape, n);
    }

    void writeTo(ByteBuf out) {
        out.writeByte(dtype.code);
        Varint.write(shape.length, out);
        for (long d : shape) {
            Varint.write(d, out);
        }
        Varint.write(byteLength, out);
    }

    static TensorHeader readFrom(ByteBuf in) {
        try {
            DType dtype = DType.of(in.readUnsignedByte());
            long rank = readVarint(in);
            if (rank > MAX_RANK) {
                throw new IllegalArgumentException("tensor rank " + rank + " exceeds " + MAX_RANK);
            }
            long[] shape = new long[(int) rank];
            for (int i = 0; i < rank; i++) {
                shape[i] = readVarint(in);
            }
            long byteLength = readVarint(in);
            if (in.isReadable()) {
                throw new IllegalArgumentException(in.readableBytes() + " stray bytes after the tensor header");
            }
            return new TensorHeader(dtype, shape, byteLength);
        } catch (IndexOutOfBoundsException | ArithmeticException e) {
            throw new IllegalArgumentException("malformed tensor header: " + e.getMessage(), e);
        }
    }

    private static long readVarint(ByteBuf in) {
        long v = Varint.tryRead(in);
        if (v == Varint.INCOMPLETE) {
            throw new IllegalArgumentException("tensor header is truncated");
        }
        return v;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorHeader h && h.dtype == dtype && Arrays.equals(h.shape, shape) && h.byteLength == byteLength;
    }

    @Override
    public int hashCode() {
        return dtype.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return dtype + Arrays.toString(shape);
    }
}
