package ai.parallax.p2p.mdns;

import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.multiformats.Multiaddr;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.InetSocketAddress;
import java.net.MulticastSocket;
import java.net.NetworkInterface;
import java.net.SocketTimeoutException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Supplier;

/**
 * Local-network discovery as the libp2p mDNS spec describes it: a peer asks {@code _p2p._udp.local PTR} on the mDNS
 * group (224.0.0.251:5353), and every peer answers with {@code _p2p._udp.local PTR <peer-name>._p2p._udp.local} plus
 * a TXT record for that name holding one {@code dnsaddr=<multiaddr>/p2p/<id>} attribute per listen address. The
 * peer name is random, as the spec advises, so it reveals nothing.
 *
 * <p>Discovery only reports candidates: whoever dials one still has the Noise handshake prove its peer id.
 */
public final class MdnsDiscovery implements AutoCloseable {
    public static final String SERVICE = "_p2p._udp.local";
    public static final InetSocketAddress MDNS_GROUP = new InetSocketAddress("224.0.0.251", 5353);
    private static final System.Logger LOG = System.getLogger(MdnsDiscovery.class.getName());
    private static final long TTL_SECONDS = 120;
    private static final String DNSADDR = "dnsaddr=";

    private final PeerId self;
    private final Supplier<List<Multiaddr>> addresses;
    private final BiConsumer<PeerId, List<Multiaddr>> discovered;
    private final InetSocketAddress group;
    private final NetworkInterface networkInterface;
    private final Duration queryInterval;
    private final String peerName = randomName();
    private final MulticastSocket socket;
    private final Thread thread;
    private volatile boolean closed;

    /**
     * @param addresses        our listen addresses, in full form with /p2p
     * @param discovered       receives each peer found, with its addresses; called on the discovery thread
     * @param group            the multicast group and port; {@link #MDNS_GROUP} except in tests
     * @param networkInterface the interface to use, or null for the system default
     */
    public MdnsDiscovery(PeerId self, Supplier<List<Multiaddr>> addresses, BiConsumer<PeerId, List<Multiaddr>> discovered,
                         InetSocketAddress group, NetworkInterface networkInterface, Duration queryInterval)
            throws IOException {
        this.self = self;
        this.addresses = addresses;
        this.discovered = discovered;
        this.group = group;
        this.networkInterface = networkInterface;
        this.queryInterval = queryInterval;
        this.socket = new MulticastSocket(group.getPort()); // SO_REUSEADDR is on, so other mDNS responders coexist
        if (networkInterface != null) {
            socket.setNetworkInterface(networkInterface);
        }
        socket.setTimeToLive(255); // RFC 6762 section 11
        socket.joinGroup(group, networkInterface);
        socket.setSoTimeout(250);
        this.thread = Thread.ofPlatform().daemon().name("mdns-discovery").unstarted(this::run);
    }

    public MdnsDiscovery start() {
        thread.start();
        return this;
    }

    /** Asks the LAN for peers now, instead of waiting for the next periodic query. */
    public void query() throws IOException {
        send(new DnsMessage(0, false, List.of(new DnsMessage.Question(SERVICE, DnsMessage.TYPE_PTR)), List.of(), List.of()));
    }

    private void run() {
        byte[] buf = new byte[9000];
        long nextQuery = 0;
        while (!closed) {
            try {
                if (System.nanoTime() - nextQuery >= 0) {
                    query();
                    nextQuery = System.nanoTime() + queryInterval.toNanos();
                }
                DatagramPacket packet = new DatagramPacket(buf, buf.length);
                socket.receive(packet);
                handle(java.util.Arrays.copyOf(packet.getData(), packet.getLength()));
            } catch (SocketTimeoutException idle) {
                // time to check for the next query
            } catch (IOException e) {
                if (!closed) {
                    LOG.log(System.Logger.Level.WARNING, "mDNS socket failed: " + e.getMessage());
                    sleepQuietly();
                }
            } catch (IllegalArgumentException malformed) {
                LOG.log(System.Logger.Level.DEBUG, "ignoring malformed mDNS packet: " + malformed.getMessage());
            }
        }
    }

    private void handle(byte[] packet) throws IOException {
        DnsMessage m = DnsMessage.decode(packet);
        if (!m.response()) {
            boolean asksForUs = m.questions().stream().anyMatch(q -> q.name().equalsIgnoreCase(SERVICE)
                    && q.type() == DnsMessage.TYPE_PTR);
            if (asksForUs) {
                answer();
            }
            return;
        }
        Map<String, List<String>> txtByName = new HashMap<>();
        for (DnsMessage.Record r : concat(m.answers(), m.additionals())) {
            if (r.type() == DnsMessage.TYPE_TXT) {
                // js-libp2p sends one TXT record per address, all under the same name: gather them
                txtByName.computeIfAbsent(r.name().toLowerCase(java.util.Locale.ROOT), k -> new ArrayList<>())
                        .addAll(r.txt());
            }
        }
        for (DnsMessage.Record r : m.answers()) {
            if (r.type() != DnsMessage.TYPE_PTR || !r.name().equalsIgnoreCase(SERVICE)) {
                continue;
            }
            List<String> txt = txtByName.getOrDefault(r.ptr().toLowerCase(java.util.Locale.ROOT), List.of());
            Map<PeerId, List<Multiaddr>> found = peersIn(txt);
            found.forEach((peer, addrs) -> {
                if (!peer.equals(self)) {
                    discovered.accept(peer, addrs);
                }
            });
        }
    }

    /** Groups the {@code dnsaddr=} attributes of a TXT record by the peer id each address ends with. */
    static Map<PeerId, List<Multiaddr>> peersIn(List<String> txt) {
        Map<PeerId, List<Multiaddr>> found = new HashMap<>();
        for (String attribute : txt) {
            if (!attribute.startsWith(DNSADDR)) {
                continue;
            }
            try {
                Multiaddr a = Multiaddr.parse(attribute.substring(DNSADDR.length()));
                a.value(Multiaddr.Protocol.P2P).map(PeerId::parse)
                        .ifPresent(p -> found.computeIfAbsent(p, k -> new ArrayList<>()).add(a));
            } catch (IllegalArgumentException unusable) {
                // an address in a transport we do not speak
            }
        }
        return found;
    }

    /** The response we send to a query: PTR to our random name, and a TXT record of our addresses. */
    DnsMessage response() {
        String name = peerName + "." + SERVICE;
        List<String> txt = addresses.get().stream().map(a -> DNSADDR + a).toList();
        return new DnsMessage(0, true, List.of(), List.of(DnsMessage.Record.ptr(SERVICE, TTL_SECONDS, name)),
                List.of(DnsMessage.Record.txt(name, TTL_SECONDS, txt)));
    }

    private void answer() throws IOException {
        if (addresses.get().isEmpty()) {
            return; // a node that only looks for others has nothing to announce
        }
        send(response());
    }

    private void send(DnsMessage m) throws IOException {
        byte[] b = m.encode();
        socket.send(new DatagramPacket(b, b.length, group));
    }

    @Override
    public void close() {
        closed = true;
        try {
            socket.leaveGroup(group, networkInterface);
        } catch (IOException ignored) {
            // closing anyway
        }
        socket.close();
    }

    private static List<DnsMessage.Record> concat(List<DnsMessage.Record> a, List<DnsMessage.Record> b) {
        List<DnsMessage.Record> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    private static String randomName() {
        String alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        SecureRandom r = new SecureRandom();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 32; i++) {
            sb.append(alphabet.charAt(r.nextInt(alphabet.length())));
        }
        return sb.toString();
    }

    private static void sleepQuietly() {
        try {
            Thread.sleep(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
