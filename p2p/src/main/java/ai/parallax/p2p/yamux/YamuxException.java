package ai.parallax.p2p.yamux;

/** The peer broke the Yamux protocol; the connection is closed with a protocol-error go-away. */
public final class YamuxException extends Exception {
    private static final long serialVersionUID = 1L;

    public YamuxException(String message) {
        super(message);
    }
}
