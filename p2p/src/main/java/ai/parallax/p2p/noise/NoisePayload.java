package ai.parallax.p2p.noise;

import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.identity.PublicIdentityKey;
import ai.parallax.p2p.protobuf.ProtoReader;
import ai.parallax.p2p.protobuf.ProtoWriter;

import java.nio.charset.StandardCharsets;

/**
 * The libp2p Noise handshake payload (libp2p noise spec, "The libp2p Handshake Payload"): the sender's identity key
 * and its signature over {@code "noise-libp2p-static-key:" || static Noise key}. It binds the Noise static key to
 * the libp2p identity, so the peer id a connection reports is proven, not claimed. Extensions (field 4) are skipped.
 */
public record NoisePayload(byte[] identityKey, byte[] identitySignature) {
    static final byte[] SIGNATURE_PREFIX = "noise-libp2p-static-key:".getBytes(StandardCharsets.US_ASCII);

    public static NoisePayload sign(IdentityKeyPair identity, byte[] noiseStaticKey) {
        return new NoisePayload(identity.publicKey().toProtobuf(), identity.sign(signedBytes(noiseStaticKey)));
    }

    public byte[] encode() {
        return new ProtoWriter().bytes(1, identityKey).bytes(2, identitySignature).toByteArray();
    }

    public static NoisePayload decode(byte[] bytes) throws NoiseException {
        byte[] key = null;
        byte[] sig = null;
        try {
            ProtoReader r = new ProtoReader(bytes, "NoiseHandshakePayload");
            while (r.next()) {
                switch (r.field()) {
                    case 1 -> key = r.bytes();
                    case 2 -> sig = r.bytes();
                    default -> { }
                }
            }
        } catch (IllegalArgumentException e) {
            throw new NoiseException(e.getMessage(), e);
        }
        if (key == null || sig == null) {
            throw new NoiseException("handshake payload lacks the " + (key == null ? "identity key" : "identity signature"));
        }
        return new NoisePayload(key, sig);
    }

    /**
     * Checks the signature over the remote's Noise static key and, if {@code expected} is not null, that the key is
     * that peer's; returns the proven peer id.
     */
    public PeerId verify(byte[] remoteStaticKey, PeerId expected) throws NoiseException {
        PublicIdentityKey key;
        try {
            key = PublicIdentityKey.fromProtobuf(identityKey);
        } catch (IllegalArgumentException e) {
            throw new NoiseException("remote identity key: " + e.getMessage(), e);
        }
        PeerId peer = key.peerId();
        if (!key.verify(signedBytes(remoteStaticKey), identitySignature)) {
            throw new NoiseException("peer " + peer + " sent an identity signature that does not sign its Noise static key");
        }
        if (expected != null && !expected.equals(peer)) {
            throw new NoiseException("dialed peer " + expected + " but the remote proved to be " + peer);
        }
        return peer;
    }

    private static byte[] signedBytes(byte[] staticKey) {
        byte[] msg = new byte[SIGNATURE_PREFIX.length + staticKey.length];
        System.arraycopy(SIGNATURE_PREFIX, 0, msg, 0, SIGNATURE_PREFIX.length);
        System.arraycopy(staticKey, 0, msg, SIGNATURE_PREFIX.length, staticKey.length);
        return msg;
    }
}
