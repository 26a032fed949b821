package ai.parallax.p2p.multiformats;

/**
 * The two text forms of a peer id, per the libp2p peer-ids spec: a bare base58btc multihash ({@code 12D3KooW…},
 * {@code Qm…}) or a CIDv1 with the libp2p-key codec in any multibase this node knows (base32 "b", base58btc "z").
 * Decoding returns the multihash bytes.
 */
public final class PeerIdText {
    /** Multicodec of a CID that carries a peer id's multihash. */
    public static final int LIBP2P_KEY_CODEC = 0x72;

    private PeerIdText() {
    }

    public static byte[] decode(String text) {
        if (text.startsWith("1") || text.startsWith("Qm")) {
            return Base58.decode(text);
        }
        if (text.isEmpty()) {
            throw new IllegalArgumentException("empty peer id");
        }
        byte[] cid = switch (text.charAt(0)) {
            case 'b', 'B' -> Base32.decode(text.substring(1));
            case 'z' -> Base58.decode(text.substring(1));
            default -> throw new IllegalArgumentException("peer id '" + text + "' is neither base58btc nor a CID in a"
                    + " known multibase (b, z)");
        };
        int[] at = {0};
        long version = Varint.read(cid, at);
        long codec = Varint.read(cid, at);
        if (version != 1 || codec != LIBP2P_KEY_CODEC) {
            throw new IllegalArgumentException("peer id '" + text + "' is CID version " + version + " with codec 0x"
                    + Long.toHexString(codec) + "; a peer id is CIDv1 with codec libp2p-key (0x72)");
        }
        byte[] multihash = new byte[cid.length - at[0]];
        System.arraycopy(cid, at[0], multihash, 0, multihash.length);
        return multihash;
    }

    /** The CIDv1 base32 text of a peer id's multihash. */
    public static String encodeCid(byte[] multihash) {
        byte[] prefix = {1, LIBP2P_KEY_CODEC};
        byte[] cid = new byte[prefix.length + multihash.length];
        System.arraycopy(prefix, 0, cid, 0, prefix.length);
        System.arraycopy(multihash, 0, cid, prefix.length, multihash.length);
        return "b" + Base32.encode(cid);
    }
}
