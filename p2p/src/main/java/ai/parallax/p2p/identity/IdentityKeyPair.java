package ai.parallax.p2p.identity;

import ai.parallax.p2p.protobuf.ProtoReader;
import ai.parallax.p2p.protobuf.ProtoWriter;

import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.util.Arrays;

/**
 * A node's Ed25519 identity key pair. Stored as the libp2p protobuf {@code PrivateKey{Type=Ed25519, Data=seed ||
 * public}} (peer-ids spec, "Ed25519": the preferred 64-byte form; the legacy 96-byte form is read too), so keys can be
 * moved between this node and other libp2p implementations.
 */
public final class IdentityKeyPair {
    private final byte[] seed;
    private final PrivateKey privateKey;
    private final PublicIdentityKey publicKey;

    private IdentityKeyPair(byte[] seed, KeyPair pair) {
        this.seed = seed;
        this.privateKey = pair.getPrivate();
        this.publicKey = PublicIdentityKey.fromJdk(pair.getPublic());
    }

    public static IdentityKeyPair generate() {
        byte[] seed = new byte[32];
        new SecureRandom().nextBytes(seed);
        return fromSeed(seed);
    }

    /** The key pair whose RFC 8032 private key (the 32-byte seed) is {@code seed}. */
    public static IdentityKeyPair fromSeed(byte[] seed) {
        if (seed.length != 32) {
            throw new IllegalArgumentException("an Ed25519 seed has 32 bytes, got " + seed.length);
        }
        try {
            // The JDK offers no "public key from private key" call, but its Ed25519 generator draws exactly the 32
            // seed bytes from the SecureRandom it is given and derives the public key from them (RFC 8032 5.1.5).
            KeyPairGenerator g = KeyPairGenerator.getInstance("Ed25519");
            g.initialize(255, new FixedBytes(seed));
            return new IdentityKeyPair(seed.clone(), g.generateKeyPair());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the JDK has no Ed25519 provider", e);
        }
    }

    public static IdentityKeyPair fromProtobuf(byte[] encoded) {
        ProtoReader r = new ProtoReader(encoded, "PrivateKey");
        long type = -1;
        byte[] data = null;
        while (r.next()) {
            switch (r.field()) {
                case 1 -> type = r.varint();
                case 2 -> data = r.bytes();
                default -> { }
            }
        }
        if (type != PublicIdentityKey.KEY_TYPE_ED25519) {
            throw new IllegalArgumentException("private key type " + type + " is not supported; only Ed25519 (1) is");
        }
        if (data == null || (data.length != 64 && data.length != 96)) {
            throw new IllegalArgumentException("Ed25519 PrivateKey Data must be 64 (seed||public) or 96 bytes, got "
                    + (data == null ? "none" : data.length));
        }
        IdentityKeyPair pair = fromSeed(Arrays.copyOf(data, 32));
        byte[] stored = Arrays.copyOfRange(data, 32, 64);
        if (!Arrays.equals(stored, pair.publicKey.raw())
                || (data.length == 96 && !Arrays.equals(stored, Arrays.copyOfRange(data, 64, 96)))) {
            throw new IllegalArgumentException("Ed25519 PrivateKey Data carries a public key that does not belong to"
                    + " its private key");
        }
        return pair;
    }

    public byte[] toProtobuf() {
        byte[] data = Arrays.copyOf(seed, 64);
        System.arraycopy(publicKey.raw(), 0, data, 32, 32);
        return new ProtoWriter().varint(1, PublicIdentityKey.KEY_TYPE_ED25519).bytes(2, data).toByteArray();
    }

    public PublicIdentityKey publicKey() {
        return publicKey;
    }

    public PeerId peerId() {
        return publicKey.peerId();
    }

    public byte[] sign(byte[] message) {
        try {
            Signature s = Signature.getInstance("Ed25519");
            s.initSign(privateKey);
            s.update(message);
            return s.sign();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("Ed25519 signing failed", e);
        }
    }

    /** Hands out a fixed byte string; used only to feed a known seed to the JDK's key pair generator. */
    private static final class FixedBytes extends SecureRandom {
        private static final long serialVersionUID = 1L;
        private final byte[] bytes;

        FixedBytes(byte[] bytes) {
            this.bytes = bytes;
        }

        @Override
        public void nextBytes(byte[] out) {
            if (out.length != bytes.length) {
                throw new IllegalStateException("the Ed25519 generator asked for " + out.length + " bytes");
            }
            System.arraycopy(bytes, 0, out, 0, out.length);
        }
    }
}
