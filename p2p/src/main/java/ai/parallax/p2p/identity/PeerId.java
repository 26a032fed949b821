package ai.parallax.p2p.identity;

import ai.parallax.p2p.multiformats.Base58;
import ai.parallax.p2p.multiformats.PeerIdText;
import ai.parallax.p2p.multiformats.Varint;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;

/**
 * A libp2p peer id: the multihash of a peer's protobuf-encoded public key (libp2p peer-ids spec, "Peer Ids").
 * Keys of at most 42 encoded bytes, such as Ed25519's 36, use the identity multihash, so the key can be recovered
 * from the id; longer keys are hashed with SHA-256.
 */
public final class PeerId {
    private static final int IDENTITY = 0x00;
    private static final int SHA2_256 = 0x12;
    private static final int MAX_INLINE_KEY = 42;

    private final byte[] multihash;
    private final String text;

    private PeerId(byte[] multihash) {
        this.multihash = multihash;
        this.text = Base58.encode(multihash);
    }

    public static PeerId fromPublicKey(PublicIdentityKey key) {
        byte[] encoded = key.toProtobuf();
        if (encoded.length <= MAX_INLINE_KEY) {
            return new PeerId(multihash(IDENTITY, encoded));
        }
        try {
            return new PeerId(multihash(SHA2_256, MessageDigest.getInstance("SHA-256").digest(encoded)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Parses {@code 12D3KooW…}, {@code Qm…} or a CIDv1 ({@code bafz…}). */
    public static PeerId parse(String text) {
        try {
            return fromBytes(PeerIdText.decode(text));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("invalid peer id '" + text + "': " + e.getMessage(), e);
        }
    }

    /** Parses the binary multihash form (as carried in a /p2p multiaddr component). */
    public static PeerId fromBytes(byte[] multihash) {
        int[] at = {0};
        long code = Varint.read(multihash, at);
        long length = Varint.read(multihash, at);
        if (code != IDENTITY && code != SHA2_256) {
            throw new IllegalArgumentException("peer id multihash uses code 0x" + Long.toHexString(code)
                    + "; expected identity (0x00) or sha2-256 (0x12)");
        }
        if (length != multihash.length - at[0]) {
            throw new IllegalArgumentException("peer id multihash says " + length + " digest bytes but carries "
                    + (multihash.length - at[0]));
        }
        if (code == SHA2_256 && length != 32) {
            throw new IllegalArgumentException("sha2-256 peer id has a " + length + "-byte digest; expected 32");
        }
        return new PeerId(multihash.clone());
    }

    public byte[] toBytes() {
        return multihash.clone();
    }

    /** The CIDv1 form, base32 ({@code bafz…}). */
    public String toCidString() {
        return PeerIdText.encodeCid(multihash);
    }

    /** True if this id was derived from {@code key}. */
    public boolean matches(PublicIdentityKey key) {
        return equals(fromPublicKey(key));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PeerId other && Arrays.equals(multihash, other.multihash);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(multihash);
    }

    /** The base58btc form ({@code 12D3KooW…}). */
    @Override
    public String toString() {
        return text;
    }

    private static byte[] multihash(int code, byte[] digest) {
        byte[] out = new byte[2 + digest.length];
        out[0] = (byte) code;
        out[1] = (byte) digest.length;
        System.arraycopy(digest, 0, out, 2, digest.length);
        return out;
    }
}
