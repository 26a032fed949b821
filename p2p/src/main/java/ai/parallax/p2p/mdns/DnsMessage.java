package ai.parallax.p2p.mdns;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The small part of the DNS wire format (RFC 1035 section 4) that libp2p mDNS discovery needs: questions, PTR and
 * TXT records, and name compression when reading. Parsing is defensive, since any host on the LAN can send us
 * anything: bounds are checked, compression pointers may only point backwards, and a malformed packet is an
 * {@link IllegalArgumentException}.
 */
public record DnsMessage(int id, boolean response, List<Question> questions, List<Record> answers,
                         List<Record> additionals) {
    public static final int TYPE_PTR = 12;
    public static final int TYPE_TXT = 16;
    public static final int CLASS_IN = 1;

    public record Question(String name, int type) {
    }

    /** A resource record; {@code ptr} is set for PTR records, {@code txt} for TXT records. */
    public record Record(String name, int type, long ttl, String ptr, List<String> txt) {
        public static Record ptr(String name, long ttl, String target) {
            return new Record(name, TYPE_PTR, ttl, target, List.of());
        }

        public static Record txt(String name, long ttl, List<String> strings) {
            return new Record(name, TYPE_TXT, ttl, null, List.copyOf(strings));
        }
    }

    public byte[] encode() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        u16(out, id);
        u16(out, response ? 0x8400 : 0); // QR and AA for responses (RFC 6762 section 18)
        u16(out, questions.size());
        u16(out, answers.size());
        u16(out, 0);
        u16(out, additionals.size());
        for (Question q : questions) {
            name(out, q.name);
            u16(out, q.type);
            u16(out, CLASS_IN);
        }
        for (Record r : answers) {
            record(out, r);
        }
        for (Record r : additionals) {
            record(out, r);
        }
        return out.toByteArray();
    }

    public static DnsMessage decode(byte[] packet) {
        Reader r = new Reader(packet);
        int id = r.u16();
        int flags = r.u16();
        int qd = r.u16();
        int an = r.u16();
        int ns = r.u16();
        int ar = r.u16();
        List<Question> questions = new ArrayList<>();
        for (int i = 0; i < qd; i++) {
            String name = r.name();
            int type = r.u16();
            r.u16(); // class, with the mDNS unicast-response bit
            questions.add(new Question(name, type));
        }
        List<Record> answers = new ArrayList<>();
        for (int i = 0; i < an; i++) {
            answers.add(r.record());
        }
        for (int i = 0; i < ns; i++) {
            r.record();
        }
        List<Record> additionals = new ArrayList<>();
        for (int i = 0; i < ar; i++) {
            additionals.add(r.record());
        }
        return new DnsMessage(id, (flags & 0x8000) != 0, questions, answers, additionals);
    }

    private static void record(ByteArrayOutputStream out, Record r) {
        name(out, r.name);
        u16(out, r.type);
        u16(out, CLASS_IN);
        u16(out, (int) (r.ttl >>> 16));
        u16(out, (int) r.ttl);
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        if (r.type == TYPE_PTR) {
            name(data, r.ptr);
        } else {
            for (String s : r.txt) {
                byte[] b = s.getBytes(StandardCharsets.UTF_8);
                if (b.length > 255) {
                    throw new IllegalArgumentException("TXT string of " + b.length + " bytes exceeds 255");
                }
                data.write(b.length);
                data.writeBytes(b);
            }
        }
        u16(out, data.size());
        out.writeBytes(data.toByteArray());
    }

    private static void name(ByteArrayOutputStream out, String name) {
        for (String label : name.split("\\.")) {
            byte[] b = label.getBytes(StandardCharsets.UTF_8);
            if (b.length == 0 || b.length > 63) {
                throw new IllegalArgumentException("DNS label '" + label + "' must have 1 to 63 bytes");
            }
            out.write(b.length);
            out.writeBytes(b);
        }
        out.write(0);
    }

    private static void u16(ByteArrayOutputStream out, int v) {
        out.write(v >>> 8);
        out.write(v);
    }

    private static final class Reader {
        private final byte[] p;
        private int at;

        Reader(byte[] p) {
            this.p = p;
        }

        int u8() {
            if (at >= p.length) {
                throw new IllegalArgumentException("DNS message truncated at byte " + at);
            }
            return p[at++] & 0xFF;
        }

        int u16() {
            return (u8() << 8) | u8();
        }

        String name() {
            StringBuilder sb = new StringBuilder();
            int pos = at;
            boolean jumped = false;
            int limit = pos; // pointers must go strictly backwards, which also rules out loops
            while (true) {
                if (pos >= p.length) {
                    throw new IllegalArgumentException("DNS name runs past the end of the message");
                }
                int len = p[pos] & 0xFF;
                if ((len & 0xC0) == 0xC0) {
                    if (pos + 1 >= p.length) {
                        throw new IllegalArgumentException("DNS compression pointer is truncated");
                    }
                    int target = ((len & 0x3F) << 8) | (p[pos + 1] & 0xFF);
                    if (target >= limit) {
                        throw new IllegalArgumentException("DNS compression pointer does not point backwards");
                    }
                    if (!jumped) {
                        at = pos + 2;
                        jumped = true;
                    }
                    pos = target;
                    limit = target;
                    continue;
                }
                if ((len & 0xC0) != 0) {
                    throw new IllegalArgumentException("DNS label has reserved length bits");
                }
                pos++;
                if (len == 0) {
                    break;
                }
                if (pos + len > p.length) {
                    throw new IllegalArgumentException("DNS label runs past the end of the message");
                }
                if (sb.length() > 0) {
                    sb.append('.');
                }
                sb.append(new String(p, pos, len, StandardCharsets.UTF_8));
                if (sb.length() > 255) {
                    throw new IllegalArgumentException("DNS name is longer than 255 characters");
                }
                pos += len;
            }
            if (!jumped) {
                at = pos;
            }
            return sb.toString();
        }

        Record record() {
            String name = name();
            int type = u16();
            u16(); // class, with the cache-flush bit
            long ttl = ((long) u16() << 16) | u16();
            int length = u16();
            int end = at + length;
            if (end > p.length) {
                throw new IllegalArgumentException("DNS record data runs past the end of the message");
            }
            Record r;
            if (type == TYPE_PTR) {
                r = Record.ptr(name, ttl, name());
            } else if (type == TYPE_TXT) {
                List<String> strings = new ArrayList<>();
                while (at < end) {
                    int n = u8();
                    if (at + n > end) {
                        throw new IllegalArgumentException("TXT string runs past its record");
                    }
                    strings.add(new String(p, at, n, StandardCharsets.UTF_8));
                    at += n;
                }
                r = Record.txt(name, ttl, strings);
            } else {
                r = new Record(name, type, ttl, null, List.of());
            }
            at = end;
            return r;
        }
    }
}
