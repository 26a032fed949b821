package ai.parallax.p2p.rendezvous;

import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.identity.PublicIdentityKey;
import ai.parallax.p2p.multiformats.Multiaddr;
import ai.parallax.p2p.multiformats.Varint;
import ai.parallax.p2p.protobuf.ProtoReader;
import ai.parallax.p2p.protobuf.ProtoWriter;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A peer's addresses, signed by the peer itself: a libp2p peer record (RFC 0003, "Routing Records") inside a signed
 * envelope (RFC 0002, "Signed Envelopes"). A rendezvous point stores and hands out these bytes unchanged, so whoever
 * discovers a peer can check that the addresses came from that peer and not from the point.
 *
 * <pre>
 * Envelope   { PublicKey public_key = 1; bytes payload_type = 2; bytes payload = 3; bytes signature = 5; }
 * PeerRecord { bytes peer_id = 1; uint64 seq = 2; repeated AddressInfo addresses = 3; }
 * AddressInfo{ bytes multiaddr = 1; }
 * signature = Ed25519 over  uvarint(len domain) domain  uvarint(len type) type  uvarint(len payload) payload
 * </pre>
 * with the domain {@code libp2p-peer-record} and the payload type {@code 0x03 0x01} (the multicodec
 * {@code libp2p-peer-record}).
 */
public final class SignedPeerRecord {
    static final String DOMAIN = "libp2p-peer-record";
    static final byte[] PAYLOAD_TYPE = {0x03, 0x01};
    /** A record lists a peer's own addresses; more than this is not a plausible peer. */
    static final int MAX_ADDRESSES = 64;

    private final PeerId peer;
    private final long seq;
    private final List<Multiaddr> addresses;
    private final byte[] envelope;

    private SignedPeerRecord(PeerId peer, long seq, List<Multiaddr> addresses, byte[] envelope) {
        this.peer = peer;
        this.seq = seq;
        this.addresses = addresses;
        this.envelope = envelope;
    }

    /**
     * Signs {@code addresses} (a trailing /p2p component is dropped, as the record names the peer already).
     * {@code seq} must grow with every new record of the same peer, e.g. the time in milliseconds.
     */
    public static SignedPeerRecord create(IdentityKeyPair identity, long seq, List<Multiaddr> addresses) {
        List<Multiaddr> plain = addresses.stream().map(Multiaddr::withoutPeerId).distinct().toList();
        if (plain.size() > MAX_ADDRESSES) {
            plain = plain.subList(0, MAX_ADDRESSES);
        }
        ProtoWriter record = new ProtoWriter().bytes(1, identity.peerId().toBytes()).varint(2, seq);
        for (Multiaddr a : plain) {
            record.bytes(3, new ProtoWriter().bytes(1, a.toBytes()).toByteArray());
        }
        byte[] payload = record.toByteArray();
        byte[] signature = identity.sign(signedBytes(payload));
        byte[] envelope = new ProtoWriter()
                .bytes(1, identity.publicKey().toProtobuf())
                .bytes(2, PAYLOAD_TYPE)
                .bytes(3, payload)
                .bytes(5, signature)
                .toByteArray();
        return new SignedPeerRecord(identity.peerId(), seq, List.copyOf(plain), envelope);
    }

    /**
     * Decodes and verifies an envelope: the payload type must be a peer record, the signature must verify under the
     * envelope's key, and the record's peer id must be that key's. Addresses in transports we cannot parse are
     * skipped.
     *
     * @throws IllegalArgumentException naming what is wrong
     */
    public static SignedPeerRecord decode(byte[] envelope) {
        ProtoReader r = new ProtoReader(envelope, "Envelope");
        byte[] key = null;
        byte[] type = null;
        byte[] payload = null;
        byte[] signature = null;
        while (r.next()) {
            switch (r.field()) {
                case 1 -> key = r.bytes();
                case 2 -> type = r.bytes();
                case 3 -> payload = r.bytes();
                case 5 -> signature = r.bytes();
                default -> { }
            }
        }
        if (key == null || type == null || payload == null || signature == null) {
            throw new IllegalArgumentException("signed envelope lacks its public key, payload type, payload or signature");
        }
        if (!Arrays.equals(type, PAYLOAD_TYPE)) {
            throw new IllegalArgumentException("signed envelope carries payload type " + Arrays.toString(type)
                    + ", not a peer record (0x03 0x01)");
        }
        PublicIdentityKey publicKey = PublicIdentityKey.fromProtobuf(key);
        if (!publicKey.verify(signedBytes(payload), signature)) {
            throw new IllegalArgumentException("signed peer record has an invalid signature");
        }
        ProtoReader p = new ProtoReader(payload, "PeerRecord");
        PeerId peer = null;
        long seq = 0;
        List<Multiaddr> addresses = new ArrayList<>();
        while (p.next()) {
            switch (p.field()) {
                case 1 -> peer = PeerId.fromBytes(p.bytes());
                case 2 -> seq = p.varint();
                case 3 -> {
                    ProtoReader info = new ProtoReader(p.bytes(), "AddressInfo");
                    while (info.next()) {
                        if (info.field() == 1 && addresses.size() < MAX_ADDRESSES) {
                            try {
                                addresses.add(Multiaddr.fromBytes(info.bytes()));
                            } catch (IllegalArgumentException unusable) {
                                // a transport we do not speak; the others stay usable
                            }
                        }
                    }
                }
                default -> { }
            }
        }
        if (peer == null) {
            throw new IllegalArgumentException("peer record names no peer id");
        }
        if (!peer.matches(publicKey)) {
            throw new IllegalArgumentException("peer record for " + peer + " is signed by another key ("
                    + publicKey.peerId() + ")");
        }
        return new SignedPeerRecord(peer, seq, List.copyOf(addresses), envelope.clone());
    }

    public PeerId peerId() {
        return peer;
    }

    public long seq() {
        return seq;
    }

    /** The peer's addresses, without /p2p components. */
    public List<Multiaddr> addresses() {
        return addresses;
    }

    /** The addresses with {@code /p2p/<peer>} appended, ready to dial. */
    public List<Multiaddr> dialableAddresses() {
        return addresses.stream().map(a -> a.with(Multiaddr.Protocol.P2P, peer.toString())).toList();
    }

    /** The signed envelope, as sent on the wire. */
    public byte[] envelope() {
        return envelope.clone();
    }

    int envelopeLength() {
        return envelope.length;
    }

    private static byte[] signedBytes(byte[] payload) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] domain = DOMAIN.getBytes(StandardCharsets.UTF_8);
        for (byte[] part : new byte[][]{domain, PAYLOAD_TYPE, payload}) {
            Varint.write(part.length, out);
            out.writeBytes(part);
        }
        return out.toByteArray();
    }

    @Override
    public String toString() {
        return "peer record of " + peer + " (seq " + seq + "): " + addresses;
    }
}
