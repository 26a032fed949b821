package ai.parallax.p2p.protocol;

import ai.parallax.p2p.identity.PublicIdentityKey;
import ai.parallax.p2p.multiformats.Multiaddr;
import ai.parallax.p2p.protobuf.ProtoReader;
import ai.parallax.p2p.protobuf.ProtoWriter;

import java.util.ArrayList;
import java.util.List;

/**
 * The identify message (libp2p identify spec): protocolVersion (5), agentVersion (6), publicKey (1), listenAddrs
 * (2, binary multiaddrs), observedAddr (4) and protocols (3). Addresses in protocols we do not know are dropped
 * rather than failing the whole message, since peers legitimately listen on transports we do not speak.
 */
public record IdentifyInfo(String protocolVersion, String agentVersion, PublicIdentityKey publicKey,
                           List<Multiaddr> listenAddrs, Multiaddr observedAddr, List<String> protocols) {
    public static final String PROTOCOL_ID = "/ipfs/id/1.0.0";

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
        return w.toByteArray();
    }

    public static IdentifyInfo decode(byte[] bytes) {
        String protocolVersion = "";
        String agentVersion = "";
        PublicIdentityKey key = null;
        List<Multiaddr> addrs = new ArrayList<>();
        Multiaddr observed = null;
        List<String> protocols = new ArrayList<>();
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
                default -> { }
            }
        }
        if (key == null) {
            throw new IllegalArgumentException("identify message carries no public key");
        }
        return new IdentifyInfo(protocolVersion, agentVersion, key, List.copyOf(addrs), observed, List.copyOf(protocols));
    }

    private static void parse(byte[] bytes, List<Multiaddr> into) {
        try {
            into.add(Multiaddr.fromBytes(bytes));
        } catch (IllegalArgumentException unknownTransport) {
            // e.g. /webrtc or /p2p-circuit addresses: valid for the peer, not dialable by us
        }
    }
}
