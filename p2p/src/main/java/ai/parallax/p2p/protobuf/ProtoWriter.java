package ai.parallax.p2p.protobuf;

import ai.parallax.p2p.multiformats.Varint;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Writes the protobuf wire format for the handful of small libp2p messages (keys, the Noise handshake payload,
 * identify). Only varint (wire type 0) and length-delimited (wire type 2) fields occur in them, so a schema compiler
 * and its runtime would add weight without adding safety.
 */
public final class ProtoWriter {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    public ProtoWriter varint(int field, long value) {
        Varint.write((long) field << 3, out);
        Varint.write(value, out);
        return this;
    }

    public ProtoWriter bytes(int field, byte[] value) {
        Varint.write(((long) field << 3) | 2, out);
        Varint.write(value.length, out);
        out.writeBytes(value);
        return this;
    }

    public ProtoWriter string(int field, String value) {
        return bytes(field, value.getBytes(StandardCharsets.UTF_8));
    }

    public byte[] toByteArray() {
        return out.toByteArray();
    }
}
