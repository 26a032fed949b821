package ai.parallax.p2p.multistream;

import ai.parallax.p2p.multiformats.Varint;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * multistream-select 1.0 (libp2p connections spec, "Protocol Negotiation"): each message is a uvarint length, then
 * UTF-8 text ending in '\n'. Both sides send {@code /multistream/1.0.0}; the initiator proposes protocols one at a
 * time and the responder echoes the one it accepts or answers {@code na}. This class is the pure state machine:
 * it reads from the bytes it is given and writes through a callback, so the same code negotiates the security and
 * muxer protocols on a socket and the application protocol on every Yamux stream.
 */
public final class MultistreamNegotiator {
    public static final String PROTOCOL_ID = "/multistream/1.0.0";
    static final String NOT_AVAILABLE = "na";
    /** Protocol ids are short; a longer message is a confused or hostile peer, not a protocol we could speak. */
    public static final int MAX_MESSAGE_BYTES = 1024;

    private final boolean initiator;
    private final Deque<String> proposals;
    private final Predicate<String> supported;
    private final ByteBufAllocator alloc;
    private final Consumer<ByteBuf> out;
    private boolean headerReceived;

    private MultistreamNegotiator(boolean initiator, List<String> proposals, Predicate<String> supported,
                                  ByteBufAllocator alloc, Consumer<ByteBuf> out) {
        this.initiator = initiator;
        this.proposals = new ArrayDeque<>(proposals);
        this.supported = supported;
        this.alloc = alloc;
        this.out = out;
    }

    /** The dialing side, proposing {@code protocols} in order of preference. */
    public static MultistreamNegotiator initiator(List<String> protocols, ByteBufAllocator alloc, Consumer<ByteBuf> out) {
        if (protocols.isEmpty()) {
            throw new IllegalArgumentException("an initiator needs at least one protocol to propose");
        }
        return new MultistreamNegotiator(true, protocols, p -> false, alloc, out);
    }

    /** The listening side, accepting any protocol {@code supported} says yes to. */
    public static MultistreamNegotiator responder(Predicate<String> supported, ByteBufAllocator alloc,
                                                  Consumer<ByteBuf> out) {
        return new MultistreamNegotiator(false, List.of(), supported, alloc, out);
    }

    /**
     * Sends our header; the initiator also sends its first proposal right away rather than waiting for the
     * responder's header, saving a round trip, as other implementations do.
     */
    public void start() {
        ByteBuf b = alloc.buffer();
        writeMessage(b, PROTOCOL_ID);
        if (initiator) {
            writeMessage(b, proposals.peekFirst());
        }
        out.accept(b);
    }

    /**
     * Consumes whole messages from {@code in}. Returns the agreed protocol id, leaving any bytes after its message
     * in {@code in} for that protocol, or null if more input is needed.
     *
     * @throws MultistreamException if the peer breaks the protocol or no proposal is accepted
     */
    public String feed(ByteBuf in) throws MultistreamException {
        while (true) {
            String message = readMessage(in);
            if (message == null) {
                return null;
            }
            if (!headerReceived) {
                if (!message.equals(PROTOCOL_ID)) {
                    throw new MultistreamException("expected the " + PROTOCOL_ID + " header, got '" + printable(message) + "'");
                }
                headerReceived = true;
                continue;
            }
            if (initiator) {
                String proposed = proposals.peekFirst();
                if (message.equals(proposed)) {
                    return proposed;
                }
                if (!message.equals(NOT_AVAILABLE)) {
                    throw new MultistreamException("proposed '" + proposed + "' but the peer answered '"
                            + printable(message) + "'");
                }
                proposals.removeFirst();
                if (proposals.isEmpty()) {
                    throw new MultistreamException("the peer supports none of the proposed protocols");
                }
                ByteBuf b = alloc.buffer();
                writeMessage(b, proposals.peekFirst());
                out.accept(b);
            } else {
                ByteBuf b = alloc.buffer();
                // "ls" asks for our list; we keep our protocol set private and answer na, as the spec allows.
                boolean accept = !message.equals("ls") && supported.test(message);
                writeMessage(b, accept ? message : NOT_AVAILABLE);
                out.accept(b);
                if (accept) {
                    return message;
                }
            }
        }
    }

    private static String readMessage(ByteBuf in) throws MultistreamException {
        int start = in.readerIndex();
        long length;
        try {
            length = Varint.tryRead(in);
        } catch (IllegalArgumentException e) {
            throw new MultistreamException("bad message length: " + e.getMessage());
        }
        if (length == Varint.INCOMPLETE) {
            return null;
        }
        if (length > MAX_MESSAGE_BYTES || length < 1) {
            throw new MultistreamException("message of " + length + " bytes is outside 1.." + MAX_MESSAGE_BYTES);
        }
        if (in.readableBytes() < length) {
            in.readerIndex(start);
            return null;
        }
        String text = in.toString(in.readerIndex(), (int) length, StandardCharsets.UTF_8);
        in.skipBytes((int) length);
        if (!text.endsWith("\n")) {
            throw new MultistreamException("message '" + printable(text) + "' does not end with a newline");
        }
        return text.substring(0, text.length() - 1);
    }

    static void writeMessage(ByteBuf b, String text) {
        byte[] bytes = (text + "\n").getBytes(StandardCharsets.UTF_8);
        Varint.write(bytes.length, b);
        b.writeBytes(bytes);
    }

    private static String printable(String s) {
        String t = s.length() > 80 ? s.substring(0, 80) + "…" : s;
        return t.replaceAll("\\p{Cntrl}", "?");
    }
}
