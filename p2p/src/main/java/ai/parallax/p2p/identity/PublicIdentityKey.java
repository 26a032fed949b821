package ai.parallax.p2p.identity;

import ai.parallax.p2p.protobuf.ProtoReader;
import ai.parallax.p2p.protobuf.ProtoWriter;

import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.X509EncodedKeySpec;
import java.util.Arrays;

/**
 * A peer's Ed25519 public identity key. The libp2p wire form is the protobuf {@code PublicKey{Type=Ed25519(1),
 * Data=<32 raw bytes>}} (peer-ids spec, "Keys" and "Ed25519"). Only Ed25519 is accepted: it is what every current
 * libp2p implementation generates, and refusing the others keeps RSA parsing off the attack surface.
 */
public final class PublicIdentityKey {
    static final int KEY_TYPE_ED25519 = 1;
    /** X.509 SubjectPublicKeyInfo header for an Ed25519 key (OID 1.3.101.112), followed by the 32 raw bytes. */
    private static final byte[] X509_PREFIX = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

    private final byte[] raw;
    private final PublicKey jdkKey;

    private PublicIdentityKey(byte[] raw) {
        if (raw.length != 32) {
            throw new IllegalArgumentException("an Ed25519 public key has 32 bytes, got " + raw.length);
        }
        this.raw = raw.clone();
        try {
            byte[] x509 = Arrays.copyOf(X509_PREFIX, X509_PREFIX.length + 32);
            System.arraycopy(raw, 0, x509, X509_PREFIX.length, 32);
            this.jdkKey = KeyFactory.getInstance("Ed25519").generatePublic(new X509EncodedKeySpec(x509));
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("not a valid Ed25519 public key: " + e.getMessage(), e);
        }
    }

    public static PublicIdentityKey fromRaw(byte[] raw) {
        return new PublicIdentityKey(raw);
    }

    static PublicIdentityKey fromJdk(PublicKey key) {
        byte[] x509 = key.getEncoded();
        return new PublicIdentityKey(Arrays.copyOfRange(x509, x509.length - 32, x509.length));
    }

    /** Decodes the libp2p protobuf {@code PublicKey}. */
    public static PublicIdentityKey fromProtobuf(byte[] encoded) {
        ProtoReader r = new ProtoReader(encoded, "PublicKey");
        long type = -1;
        byte[] data = null;
        while (r.next()) {
            switch (r.field()) {
                case 1 -> type = r.varint();
                case 2 -> data = r.bytes();
                default -> { }
            }
        }
        if (type != KEY_TYPE_ED25519) {
            throw new IllegalArgumentException("public key type " + type + " is not supported; only Ed25519 (1) is");
        }
        if (data == null) {
            throw new IllegalArgumentException("PublicKey protobuf has no Data field");
        }
        return new PublicIdentityKey(data);
    }

    public byte[] toProtobuf() {
        return new ProtoWriter().varint(1, KEY_TYPE_ED25519).bytes(2, raw).toByteArray();
    }

    public byte[] raw() {
        return raw.clone();
    }

    public PeerId peerId() {
        return PeerId.fromPublicKey(this);
    }

    public boolean verify(byte[] message, byte[] signature) {
        try {
            Signature s = Signature.getInstance("Ed25519");
            s.initVerify(jdkKey);
            s.update(message);
            return s.verify(signature);
        } catch (GeneralSecurityException e) {
            return false; // a malformed signature is simply not valid
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PublicIdentityKey other && Arrays.equals(raw, other.raw);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(raw);
    }
}
