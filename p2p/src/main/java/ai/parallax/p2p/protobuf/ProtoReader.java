package ai.parallax.p2p.protobuf;

import ai.parallax.p2p.multiformats.Varint;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Reads protobuf fields one at a time. Unknown fields are skipped as the protobuf rules require, so newer peers
 * may add fields (libp2p does, e.g. Noise extensions or signed peer records) without breaking this node.
 */
public final class ProtoReader {
    private final byte[] bytes;
    private final String messageName;
    private final int[] at = {0};
    private int field;
    private int wireType;
    private long varintValue;
    private byte[] bytesValue;

    public ProtoReader(byte[] bytes, String messageName) {
        this.bytes = bytes;
        this.messageName = messageName;
    }

    /** Advances to the next field; false at the end of the message. */
    public boolean next() {
        if (at[0] >= bytes.length) {
            return false;
        }
        try {
            long key = Varint.read(bytes, at);
            field = (int) (key >>> 3);
            wireType = (int) (key & 7);
            switch (wireType) {
                case 0 -> varintValue = Varint.read(bytes, at);
                case 1 -> skip(8);
                case 2 -> {
                    long n = Varint.read(bytes, at);
                    if (n > bytes.length - at[0]) {
                        throw new IllegalArgumentException("field " + field + " claims " + n + " bytes but only "
                                + (bytes.length - at[0]) + " remain");
                    }
                    bytesValue = Arrays.copyOfRange(bytes, at[0], at[0] + (int) n);
                    at[0] += (int) n;
                }
                case 5 -> skip(4);
                default -> throw new IllegalArgumentException("field " + field + " has unsupported wire type " + wireType);
            }
            return true;
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("malformed " + messageName + " protobuf: " + e.getMessage(), e);
        }
    }

    public int field() {
        return field;
    }

    public long varint() {
        requireWireType(0);
        return varintValue;
    }

    public byte[] bytes() {
        requireWireType(2);
        return bytesValue;
    }

    public String string() {
        return new String(bytes(), StandardCharsets.UTF_8);
    }

    private void skip(int n) {
        if (n > bytes.length - at[0]) {
            throw new IllegalArgumentException("field " + field + " is truncated");
        }
        at[0] += n;
    }

    private void requireWireType(int expected) {
        if (wireType != expected) {
            throw new IllegalArgumentException("malformed " + messageName + " protobuf: field " + field
                    + " has wire type " + wireType + ", expected " + expected);
        }
    }
}
