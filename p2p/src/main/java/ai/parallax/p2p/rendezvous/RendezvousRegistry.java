package ai.parallax.p2p.rendezvous;

import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.rendezvous.RendezvousMessage.Discover;
import ai.parallax.p2p.rendezvous.RendezvousMessage.DiscoverResponse;
import ai.parallax.p2p.rendezvous.RendezvousMessage.Register;
import ai.parallax.p2p.rendezvous.RendezvousMessage.RegisterResponse;
import ai.parallax.p2p.rendezvous.RendezvousMessage.Status;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The registrations a rendezvous point holds, and its decisions on REGISTER, UNREGISTER and DISCOVER (libp2p
 * rendezvous spec, "Registration Lifetime" and "Recommendations"). It has no clock and no sockets: callers pass the
 * time, so tests can step it. Not thread-safe; {@link RendezvousPoint} calls it under a lock.
 *
 * <p>Cookies are 8 bytes: the sequence number of the last registration a response included. A later DISCOVER with
 * that cookie returns only registrations made (or refreshed) after it, which is how a client polls for news.
 */
public final class RendezvousRegistry {
    /** Spec: a maximum namespace length of 255. */
    public static final int MAX_NAMESPACE_LENGTH = 255;
    /** Spec: TTL 2 h when the client names none, at most 72 h. */
    public static final Duration DEFAULT_TTL = Duration.ofHours(2);
    public static final Duration MAX_TTL = Duration.ofHours(72);
    /** Spec: at most 1000 registrations per peer and 1000 peers per answer. */
    public static final int MAX_REGISTRATIONS_PER_PEER = 1000;
    public static final int MAX_DISCOVER_LIMIT = 1000;

    private record Entry(SignedPeerRecord record, long ttlSeconds, long expiresAtNanos, long sequence) {
    }

    private final int maxRegistrations;
    private final Map<String, LinkedHashMap<PeerId, Entry>> byNamespace = new HashMap<>();
    private final Map<PeerId, Integer> perPeer = new HashMap<>();
    private int total;
    private long sequence;

    /** @param maxRegistrations registrations held in all, across peers and namespaces; beyond it E_UNAVAILABLE */
    public RendezvousRegistry(int maxRegistrations) {
        this.maxRegistrations = maxRegistrations;
    }

    /** Registers {@code from} under the message's namespace, replacing its earlier registration there. */
    public RegisterResponse register(PeerId from, Register r, long nowNanos) {
        String problem = namespaceProblem(r.namespace(), false);
        if (problem != null) {
            return new RegisterResponse(Status.E_INVALID_NAMESPACE, problem, 0);
        }
        long ttl = r.ttlSeconds() == 0 ? DEFAULT_TTL.toSeconds() : r.ttlSeconds();
        if (ttl < 0 || ttl > MAX_TTL.toSeconds()) {
            return new RegisterResponse(Status.E_INVALID_TTL, "ttl " + r.ttlSeconds() + " s is outside 1 s .. "
                    + MAX_TTL.toSeconds() + " s", 0);
        }
        SignedPeerRecord record;
        try {
            record = SignedPeerRecord.decode(r.signedPeerRecord());
        } catch (IllegalArgumentException e) {
            return new RegisterResponse(Status.E_INVALID_SIGNED_PEER_RECORD, e.getMessage(), 0);
        }
        if (!record.peerId().equals(from)) {
            // only a peer may register itself (spec, "The Protocol")
            return new RegisterResponse(Status.E_NOT_AUTHORIZED, "the record is for " + record.peerId()
                    + ", but " + from + " sent it", 0);
        }
        expire(nowNanos);
        LinkedHashMap<PeerId, Entry> peers = byNamespace.computeIfAbsent(r.namespace(), k -> new LinkedHashMap<>());
        Entry previous = peers.remove(from);
        if (previous != null && previous.record().seq() > record.seq()) {
            peers.put(from, previous);
            return new RegisterResponse(Status.E_INVALID_SIGNED_PEER_RECORD, "the record (seq " + record.seq()
                    + ") is older than the registered one (seq " + previous.record().seq() + ")", 0);
        }
        if (previous == null) {
            if (perPeer.getOrDefault(from, 0) >= MAX_REGISTRATIONS_PER_PEER) {
                return new RegisterResponse(Status.E_NOT_AUTHORIZED, from + " already holds "
                        + MAX_REGISTRATIONS_PER_PEER + " registrations", 0);
            }
            if (total >= maxRegistrations) {
                return new RegisterResponse(Status.E_UNAVAILABLE, "this point holds its maximum of "
                        + maxRegistrations + " registrations", 0);
            }
            perPeer.merge(from, 1, Integer::sum);
            total++;
        }
        peers.put(from, new Entry(record, ttl, nowNanos + Duration.ofSeconds(ttl).toNanos(), ++sequence));
        return new RegisterResponse(Status.OK, "", ttl);
    }

    public void unregister(PeerId from, String namespace) {
        LinkedHashMap<PeerId, Entry> peers = byNamespace.get(namespace);
        if (peers != null && peers.remove(from) != null) {
            forget(from);
            if (peers.isEmpty()) {
                byNamespace.remove(namespace);
            }
        }
    }

    /** Live registrations in the namespace (every namespace if empty), oldest first, after the cookie. */
    public DiscoverResponse discover(Discover d, long nowNanos) {
        byte[] none = new byte[0];
        String problem = namespaceProblem(d.namespace(), true);
        if (problem != null) {
            return new DiscoverResponse(List.of(), none, Status.E_INVALID_NAMESPACE, problem);
        }
        long after = 0;
        if (d.cookie().length != 0) {
            if (d.cookie().length != Long.BYTES) {
                return new DiscoverResponse(List.of(), none, Status.E_INVALID_COOKIE, "a cookie from this point has "
                        + Long.BYTES + " bytes, this one " + d.cookie().length);
            }
            after = ByteBuffer.wrap(d.cookie()).getLong();
        }
        long limit = d.limit() <= 0 ? MAX_DISCOVER_LIMIT : Math.min(d.limit(), MAX_DISCOVER_LIMIT);
        expire(nowNanos);
        List<Map.Entry<String, Entry>> matches = new ArrayList<>();
        for (var ns : byNamespace.entrySet()) {
            if (d.namespace().isEmpty() || ns.getKey().equals(d.namespace())) {
                for (Entry e : ns.getValue().values()) {
                    if (e.sequence() > after) {
                        matches.add(Map.entry(ns.getKey(), e));
                    }
                }
            }
        }
        matches.sort(java.util.Comparator.comparingLong(m -> m.getValue().sequence()));
        List<Register> out = new ArrayList<>();
        long last = after;
        for (var m : matches) {
            if (out.size() >= limit) {
                break;
            }
            Entry e = m.getValue();
            long remaining = Math.max(1, (e.expiresAtNanos() - nowNanos) / 1_000_000_000L);
            out.add(new Register(m.getKey(), e.record().envelope(), remaining));
            last = e.sequence();
        }
        return new DiscoverResponse(out, ByteBuffer.allocate(Long.BYTES).putLong(last).array(), Status.OK, "");
    }

    public int size() {
        return total;
    }

    private void expire(long nowNanos) {
        for (Iterator<Map.Entry<String, LinkedHashMap<PeerId, Entry>>> ns = byNamespace.entrySet().iterator(); ns.hasNext(); ) {
            LinkedHashMap<PeerId, Entry> peers = ns.next().getValue();
            for (Iterator<Map.Entry<PeerId, Entry>> it = peers.entrySet().iterator(); it.hasNext(); ) {
                var e = it.next();
                if (e.getValue().expiresAtNanos() - nowNanos <= 0) {
                    it.remove();
                    forget(e.getKey());
                }
            }
            if (peers.isEmpty()) {
                ns.remove();
            }
        }
    }

    private void forget(PeerId peer) {
        total--;
        perPeer.computeIfPresent(peer, (k, n) -> n > 1 ? n - 1 : null);
    }

    private static String namespaceProblem(String ns, boolean emptyAllowed) {
        if (ns.isEmpty() && !emptyAllowed) {
            return "a registration needs a namespace";
        }
        if (ns.length() > MAX_NAMESPACE_LENGTH) {
            return "namespace of " + ns.length() + " characters exceeds " + MAX_NAMESPACE_LENGTH;
        }
        return null;
    }
}
