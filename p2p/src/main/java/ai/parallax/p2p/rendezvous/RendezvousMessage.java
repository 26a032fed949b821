package ai.parallax.p2p.rendezvous;

import ai.parallax.p2p.protobuf.ProtoReader;
import ai.parallax.p2p.protobuf.ProtoWriter;

import java.util.ArrayList;
import java.util.List;

/**
 * The messages of {@code /rendezvous/1.0.0} (libp2p rendezvous spec, "Protobuf"), each sent on the stream as an
 * unsigned-varint length followed by this protobuf:
 * <pre>
 * Message { MessageType type = 1; Register register = 2; RegisterResponse registerResponse = 3;
 *           Unregister unregister = 4; Discover discover = 5; DiscoverResponse discoverResponse = 6; }
 * Register { string ns = 1; bytes signedPeerRecord = 2; int64 ttl = 3; }
 * RegisterResponse { ResponseStatus status = 1; string statusText = 2; int64 ttl = 3; }
 * Unregister { string ns = 1; bytes id = 2; }
 * Discover { string ns = 1; int64 limit = 2; bytes cookie = 3; }
 * DiscoverResponse { repeated Register registrations = 1; bytes cookie = 2; ResponseStatus status = 3;
 *                    string statusText = 4; }
 * </pre>
 * The proof-of-work extension is not implemented: our points never ask for it.
 */
public sealed interface RendezvousMessage {
    int TYPE_REGISTER = 0;
    int TYPE_REGISTER_RESPONSE = 1;
    int TYPE_UNREGISTER = 2;
    int TYPE_DISCOVER = 3;
    int TYPE_DISCOVER_RESPONSE = 4;

    enum Status {
        OK(0), E_INVALID_NAMESPACE(100), E_INVALID_SIGNED_PEER_RECORD(101), E_INVALID_TTL(102),
        E_INVALID_COOKIE(103), E_NOT_AUTHORIZED(200), E_INTERNAL_ERROR(300), E_UNAVAILABLE(400);

        final int code;

        Status(int code) {
            this.code = code;
        }

        static Status of(long code) {
            for (Status s : values()) {
                if (s.code == code) {
                    return s;
                }
            }
            return E_INTERNAL_ERROR; // a status this version does not know is still a failure
        }
    }

    /** A registration: {@code ttlSeconds} 0 means the point's default (2 h). */
    record Register(String namespace, byte[] signedPeerRecord, long ttlSeconds) implements RendezvousMessage {
    }

    record RegisterResponse(Status status, String statusText, long ttlSeconds) implements RendezvousMessage {
    }

    record Unregister(String namespace, byte[] peerId) implements RendezvousMessage {
    }

    /** {@code namespace} empty: every namespace; {@code limit} 0: the point's maximum; {@code cookie} may be empty. */
    record Discover(String namespace, long limit, byte[] cookie) implements RendezvousMessage {
    }

    record DiscoverResponse(List<Register> registrations, byte[] cookie, Status status, String statusText)
            implements RendezvousMessage {
    }

    default byte[] encode() {
        ProtoWriter m = new ProtoWriter();
        switch (this) {
            case Register r -> m.varint(1, TYPE_REGISTER).bytes(2, encodeRegister(r));
            case RegisterResponse r -> m.varint(1, TYPE_REGISTER_RESPONSE).bytes(3, new ProtoWriter()
                    .varint(1, r.status().code).string(2, r.statusText()).varint(3, r.ttlSeconds()).toByteArray());
            case Unregister u -> m.varint(1, TYPE_UNREGISTER).bytes(4, new ProtoWriter()
                    .string(1, u.namespace()).bytes(2, u.peerId()).toByteArray());
            case Discover d -> m.varint(1, TYPE_DISCOVER).bytes(5, new ProtoWriter()
                    .string(1, d.namespace()).varint(2, d.limit()).bytes(3, d.cookie()).toByteArray());
            case DiscoverResponse d -> {
                ProtoWriter w = new ProtoWriter();
                for (Register r : d.registrations()) {
                    w.bytes(1, encodeRegister(r));
                }
                w.bytes(2, d.cookie()).varint(3, d.status().code).string(4, d.statusText());
                m.varint(1, TYPE_DISCOVER_RESPONSE).bytes(6, w.toByteArray());
            }
        }
        return m.toByteArray();
    }

    /** @throws IllegalArgumentException if the bytes are not a well-formed message of a known type */
    static RendezvousMessage decode(byte[] bytes) {
        ProtoReader r = new ProtoReader(bytes, "rendezvous Message");
        long type = -1;
        byte[][] parts = new byte[7][];
        while (r.next()) {
            if (r.field() == 1) {
                type = r.varint();
            } else if (r.field() >= 2 && r.field() <= 6) {
                parts[r.field()] = r.bytes();
            }
        }
        byte[] empty = new byte[0];
        return switch ((int) type) {
            case TYPE_REGISTER -> decodeRegister(require(parts[2], "register"));
            case TYPE_REGISTER_RESPONSE -> {
                ProtoReader p = new ProtoReader(require(parts[3], "registerResponse"), "RegisterResponse");
                Status status = Status.OK;
                String text = "";
                long ttl = 0;
                while (p.next()) {
                    switch (p.field()) {
                        case 1 -> status = Status.of(p.varint());
                        case 2 -> text = p.string();
                        case 3 -> ttl = p.varint();
                        default -> { }
                    }
                }
                yield new RegisterResponse(status, text, ttl);
            }
            case TYPE_UNREGISTER -> {
                ProtoReader p = new ProtoReader(require(parts[4], "unregister"), "Unregister");
                String ns = "";
                byte[] id = empty;
                while (p.next()) {
                    switch (p.field()) {
                        case 1 -> ns = p.string();
                        case 2 -> id = p.bytes();
                        default -> { }
                    }
                }
                yield new Unregister(ns, id);
            }
            case TYPE_DISCOVER -> {
                // a DISCOVER with every field at its default encodes as an empty (absent) sub-message
                ProtoReader p = new ProtoReader(parts[5] == null ? empty : parts[5], "Discover");
                String ns = "";
                long limit = 0;
                byte[] cookie = empty;
                while (p.next()) {
                    switch (p.field()) {
                        case 1 -> ns = p.string();
                        case 2 -> limit = p.varint();
                        case 3 -> cookie = p.bytes();
                        default -> { }
                    }
                }
                yield new Discover(ns, limit, cookie);
            }
            case TYPE_DISCOVER_RESPONSE -> {
                ProtoReader p = new ProtoReader(parts[6] == null ? empty : parts[6], "DiscoverResponse");
                List<Register> registrations = new ArrayList<>();
                byte[] cookie = empty;
                Status status = Status.OK;
                String text = "";
                while (p.next()) {
                    switch (p.field()) {
                        case 1 -> registrations.add(decodeRegister(p.bytes()));
                        case 2 -> cookie = p.bytes();
                        case 3 -> status = Status.of(p.varint());
                        case 4 -> text = p.string();
                        default -> { }
                    }
                }
                yield new DiscoverResponse(List.copyOf(registrations), cookie, status, text);
            }
            default -> throw new IllegalArgumentException("rendezvous message has unknown type " + type);
        };
    }

    private static byte[] encodeRegister(Register r) {
        return new ProtoWriter().string(1, r.namespace()).bytes(2, r.signedPeerRecord()).varint(3, r.ttlSeconds())
                .toByteArray();
    }

    private static Register decodeRegister(byte[] bytes) {
        ProtoReader p = new ProtoReader(bytes, "Register");
        String ns = "";
        byte[] record = new byte[0];
        long ttl = 0;
        while (p.next()) {
            switch (p.field()) {
                case 1 -> ns = p.string();
                case 2 -> record = p.bytes();
                case 3 -> ttl = p.varint();
                default -> { }
            }
        }
        return new Register(ns, record, ttl);
    }

    private static byte[] require(byte[] part, String name) {
        if (part == null) {
            throw new IllegalArgumentException("rendezvous message lacks its " + name + " field");
        }
        return part;
    }
}
