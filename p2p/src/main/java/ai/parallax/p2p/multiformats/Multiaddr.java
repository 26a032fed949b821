package ai.parallax.p2p.multiformats;

import java.io.ByteArrayOutputStream;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A multiaddr: a self-describing network address such as {@code /ip4/10.0.0.2/tcp/4001/p2p/12D3KooW…}, in the text
 * and binary forms of the multiformats multiaddr spec. Only the protocols a Parallax node uses are known; others are
 * refused with their name or code rather than guessed at.
 */
public record Multiaddr(List<Component> components) {

    /** The protocols this node understands, with their multicodec codes. */
    public enum Protocol {
        IP4("ip4", 4, 4),
        TCP("tcp", 6, 2),
        DNS("dns", 53, -1),
        DNS4("dns4", 54, -1),
        DNS6("dns6", 55, -1),
        IP6("ip6", 41, 16),
        UDP("udp", 273, 2),
        QUIC_V1("quic-v1", 461, 0),
        P2P("p2p", 421, -1);

        final String text;
        final int code;
        /** Bytes of the binary value; -1 for a varint-length-prefixed value, 0 for none. */
        final int size;

        Protocol(String text, int code, int size) {
            this.text = text;
            this.code = code;
            this.size = size;
        }

        public String text() {
            return text;
        }

        static Protocol byName(String name) {
            for (Protocol p : values()) {
                if (p.text.equals(name)) {
                    return p;
                }
            }
            // go-libp2p and js-libp2p still accept the older name for /p2p.
            if (name.equals("ipfs")) {
                return P2P;
            }
            return null;
        }

        static Protocol byCode(long code) {
            for (Protocol p : values()) {
                if (p.code == code) {
                    return p;
                }
            }
            return null;
        }
    }

    /** One /protocol/value pair; value is null for protocols without one (quic-v1). */
    public record Component(Protocol protocol, String value) {
        @Override
        public String toString() {
            return value == null ? "/" + protocol.text : "/" + protocol.text + "/" + value;
        }
    }

    public Multiaddr {
        components = List.copyOf(components);
        if (components.isEmpty()) {
            throw new IllegalArgumentException("a multiaddr needs at least one component");
        }
    }

    public static Multiaddr parse(String text) {
        if (!text.startsWith("/")) {
            throw new IllegalArgumentException("multiaddr '" + text + "' must start with '/'");
        }
        String[] parts = text.substring(1).split("/", -1);
        List<Component> components = new ArrayList<>();
        int i = 0;
        while (i < parts.length) {
            String name = parts[i++];
            if (name.isEmpty() && i == parts.length) {
                break; // a trailing slash
            }
            Protocol p = Protocol.byName(name);
            if (p == null) {
                throw new IllegalArgumentException("multiaddr '" + text + "' has unknown protocol '" + name + "'");
            }
            if (p.size == 0) {
                components.add(new Component(p, null));
                continue;
            }
            if (i >= parts.length || parts[i].isEmpty()) {
                throw new IllegalArgumentException("multiaddr '" + text + "': /" + name + " needs a value");
            }
            String value = parts[i++];
            components.add(new Component(p, canonicalValue(p, value, text)));
        }
        return new Multiaddr(components);
    }

    public static Multiaddr fromBytes(byte[] bytes) {
        List<Component> components = new ArrayList<>();
        int[] at = {0};
        while (at[0] < bytes.length) {
            long code = Varint.read(bytes, at);
            Protocol p = Protocol.byCode(code);
            if (p == null) {
                throw new IllegalArgumentException("binary multiaddr has unknown protocol code " + code);
            }
            int size = p.size;
            if (size < 0) {
                long n = Varint.read(bytes, at);
                if (n > bytes.length - at[0]) {
                    throw new IllegalArgumentException("binary multiaddr: /" + p.text + " value of " + n
                            + " bytes runs past the end");
                }
                size = (int) n;
            }
            if (size > bytes.length - at[0]) {
                throw new IllegalArgumentException("binary multiaddr: /" + p.text + " value is truncated");
            }
            byte[] value = new byte[size];
            System.arraycopy(bytes, at[0], value, 0, size);
            at[0] += size;
            components.add(new Component(p, valueToText(p, value)));
        }
        return new Multiaddr(components);
    }

    public byte[] toBytes() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Component c : components) {
            Varint.write(c.protocol.code, out);
            byte[] value = valueToBytes(c);
            if (c.protocol.size < 0) {
                Varint.write(value.length, out);
            }
            out.writeBytes(value);
        }
        return out.toByteArray();
    }

    /** A multiaddr for a TCP socket address: /ip4/…/tcp/… or /ip6/…/tcp/…. */
    public static Multiaddr tcp(InetSocketAddress address) {
        InetAddress ip = address.getAddress();
        Protocol family = ip instanceof Inet6Address ? Protocol.IP6 : Protocol.IP4;
        String host = canonicalValue(family, ip.getHostAddress().replaceAll("%.*$", ""), address.toString());
        return new Multiaddr(List.of(new Component(family, host),
                new Component(Protocol.TCP, Integer.toString(address.getPort()))));
    }

    public Multiaddr with(Protocol protocol, String value) {
        List<Component> more = new ArrayList<>(components);
        more.add(new Component(protocol, value == null ? null : canonicalValue(protocol, value, toString())));
        return new Multiaddr(more);
    }

    /** The value of the first component of this protocol. */
    public Optional<String> value(Protocol protocol) {
        return components.stream().filter(c -> c.protocol == protocol).map(Component::value).findFirst();
    }

    /** This address without a trailing /p2p component. */
    public Multiaddr withoutPeerId() {
        Component last = components.getLast();
        return last.protocol == Protocol.P2P && components.size() > 1
                ? new Multiaddr(components.subList(0, components.size() - 1)) : this;
    }

    /** The host and port of a /ip4|ip6|dns*&#47;…/tcp/… address; DNS names resolve when the socket connects. */
    public InetSocketAddress toTcpSocketAddress() {
        if (components.size() < 2 || components.get(1).protocol != Protocol.TCP) {
            throw new IllegalArgumentException("multiaddr " + this + " is not a TCP address (/ip4|/ip6|/dns…/tcp/…)");
        }
        Component host = components.getFirst();
        int port = Integer.parseInt(components.get(1).value);
        return switch (host.protocol) {
            case IP4, IP6 -> new InetSocketAddress(literal(host.value), port);
            case DNS, DNS4, DNS6 -> InetSocketAddress.createUnresolved(host.value, port);
            default -> throw new IllegalArgumentException("multiaddr " + this + " does not start with a host");
        };
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        for (Component c : components) {
            sb.append(c);
        }
        return sb.toString();
    }

    private static String canonicalValue(Protocol p, String value, String whole) {
        try {
            return valueToText(p, valueToBytes(new Component(p, value)));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("multiaddr '" + whole + "': " + e.getMessage(), e);
        }
    }

    private static byte[] valueToBytes(Component c) {
        String v = c.value;
        return switch (c.protocol) {
            case IP4 -> {
                if (!v.matches("\\d{1,3}(\\.\\d{1,3}){3}")) {
                    throw new IllegalArgumentException("'" + v + "' is not an IPv4 address");
                }
                InetAddress a = literal(v);
                if (!(a instanceof Inet4Address)) {
                    throw new IllegalArgumentException("'" + v + "' is not an IPv4 address");
                }
                yield a.getAddress();
            }
            case IP6 -> {
                if (!v.contains(":")) {
                    throw new IllegalArgumentException("'" + v + "' is not an IPv6 address");
                }
                InetAddress a = literal(v);
                byte[] raw = a.getAddress();
                if (raw.length == 4) { // Java folds ::ffff:a.b.c.d to IPv4; keep the 16-byte form
                    byte[] mapped = new byte[16];
                    mapped[10] = (byte) 0xFF;
                    mapped[11] = (byte) 0xFF;
                    System.arraycopy(raw, 0, mapped, 12, 4);
                    raw = mapped;
                }
                yield raw;
            }
            case TCP, UDP -> {
                int port;
                try {
                    port = Integer.parseInt(v);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("'" + v + "' is not a port number");
                }
                if (port < 0 || port > 65535) {
                    throw new IllegalArgumentException("port " + port + " is outside 0..65535");
                }
                yield new byte[] {(byte) (port >>> 8), (byte) port};
            }
            case DNS, DNS4, DNS6 -> {
                if (v.isEmpty() || v.length() > 253) {
                    throw new IllegalArgumentException("'" + v + "' is not a DNS name");
                }
                yield v.getBytes(StandardCharsets.UTF_8);
            }
            case P2P -> PeerIdText.decode(v);
            case QUIC_V1 -> new byte[0];
        };
    }

    private static String valueToText(Protocol p, byte[] value) {
        return switch (p) {
            case IP4, IP6 -> {
                try {
                    if (p == Protocol.IP6) {
                        if (value.length != 16) {
                            throw new UnknownHostException();
                        }
                        yield ipv6Text(value);
                    }
                    yield InetAddress.getByAddress(value).getHostAddress();
                } catch (UnknownHostException e) {
                    throw new IllegalArgumentException("bad " + p.text + " address of " + value.length + " bytes");
                }
            }
            case TCP, UDP -> {
                if (value.length != 2) {
                    throw new IllegalArgumentException("port needs 2 bytes, got " + value.length);
                }
                yield Integer.toString(((value[0] & 0xFF) << 8) | (value[1] & 0xFF));
            }
            case DNS, DNS4, DNS6 -> new String(value, StandardCharsets.UTF_8);
            case P2P -> Base58.encode(value);
            case QUIC_V1 -> null;
        };
    }

    /** RFC 5952 text: lower-case hex groups, the longest run (two or more) of zero groups shortened to "::". */
    private static String ipv6Text(byte[] a) {
        int[] groups = new int[8];
        for (int i = 0; i < 8; i++) {
            groups[i] = ((a[2 * i] & 0xFF) << 8) | (a[2 * i + 1] & 0xFF);
        }
        int bestStart = -1;
        int bestLength = 1;
        for (int i = 0; i < 8; ) {
            int j = i;
            while (j < 8 && groups[j] == 0) {
                j++;
            }
            if (j - i > bestLength) {
                bestStart = i;
                bestLength = j - i;
            }
            i = j == i ? i + 1 : j;
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                sb.append("::");
                i += bestLength - 1;
                continue;
            }
            if (sb.length() > 0 && sb.charAt(sb.length() - 1) != ':') {
                sb.append(':');
            }
            sb.append(Integer.toHexString(groups[i]));
        }
        return sb.toString();
    }

    private static InetAddress literal(String ip) {
        try {
            // getByName does not touch DNS for literals; callers check the shape first.
            return InetAddress.getByName(ip);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("'" + ip + "' is not an IP address");
        }
    }
}
