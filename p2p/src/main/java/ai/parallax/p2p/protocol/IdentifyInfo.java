package ai.parallax.p2p.protocol;

import ai.parallax.p2p.identity.PublicIdentityKey;
import ai.parallax.p2p.multiformats.Multiaddr;
import ai.parallax.p2p.protobuf.ProtoReader;
import ai.parallax.p2p.protobuf.ProtoWriter;

import java.util.ArrayList;
import java.util.List;

/**
 * The identify message (libp2p identify spec): protocolVersion (5), agentVersion (6), publicKey (1), listenAddrs
 * (2, binary multiaddrs), observedAddr (4), protocols (3) and signedPeerRecord (8, a signed envelope holding the
 * peer's addresses; see {@code rendezvous.SignedPeerRecord}). Addresses in protocols we do not know are dropped
 * rather than failing the whole message, since peers legitimately listen on transports we do not speak.
 *
 * @param signedPeerRecord the envelope as received, not yet verified; null if the peer sent none
 */
public record IdentifyInfo(String protocolVersion, String agentVersion, PublicIdentityKey publicKey,
                           List<Multiaddr> listenAddrs, Multiaddr observedAddr, List<String> protocols,
                           byte[] signedPeerRecord) {
    public static final String PROTOCOL_ID = "/ipfs/id/1.0.0";

    public IdentifyInfo(String protocolVersion, String agentVersion, PublicIdentityKey publicKey,
                        List<Multiaddr> listenAddrs, Multiaddr observedAddr, List<String> protocols) {
        this(protocolVersion, agentVersion, publicKey, listenAddrs, observedAddr, protocols, null);
    }

    public byte[] encode() {
        ProtoWriter w = new ProtoWriter();
        w.string(5, protocolVersion).string(6, agentVersion).bytes(1, publicKey.toProtobuf());
        for (Multiaddr a : listenAddrs) {
            w.bytes(2, a.toBytes());
        }
        if (observedAddr != null) {
            w.bytes(4, observedAddr.toBytes());
        }
        for (String p : protocols) {
            w.string(3, p);
        }
        if (signedPeerRecord != null) {
            w.bytes(8, signedPeerRecord);
        }
        return w.toByteArray();
    }

    public static IdentifyInfo decode(byte[] bytes) {
        String protocolVersion = "";
        String agentVersion = "";
        PublicIdentityKey key = null;
        List<Multiaddr> addrs = new ArrayList<>();
        Multiaddr observed = null;
        List<String> protocols = new ArrayList<>();
        byte[] record = null;
        ProtoReader r = new ProtoReader(bytes, "Identify");
        while (r.next()) {
            switch (r.field()) {
                case 1 -> key = PublicIdentityKey.fromProtobuf(r.bytes());
                case 2 -> parse(r.bytes(), addrs);
                case 3 -> protocols.add(r.string());
                case 4 -> {
                    List<Multiaddr> one = new ArrayList<>();
                    parse(r.bytes(), one);
                    observed = one.isEmpty() ? null : one.getFirst();
                }
                case 5 -> protocolVersion = r.string();
                case 6 -> agentVersion = r.string();
                case 8 -> record = r.bytes();
                default -> { }
            }
        }
        if (key == null) {
            throw new IllegalArgumentException("identify message carries no public key");
        }
        return new IdentifyInfo(protocolVersion, agentVersion, key, List.copyOf(addrs), observed, List.copyOf(protocols),
                record);
    }

    private static void parse(byte[] bytes, List<Multiaddr> into) {
        try {
            into.add(Multiaddr.fromBytes(bytes));
        } catch (IllegalArgumentException unknownTransport) {
            // e.g. /webrtc or /p2p-circuit addresses: valid for the peer, not dialable by us
        }
    }
}
