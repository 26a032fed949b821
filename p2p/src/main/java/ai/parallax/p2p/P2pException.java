package ai.parallax.p2p;

/** A peer-to-peer operation failed: a refused protocol, a reset stream, a closed connection or an exceeded limit. */
public class P2pException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public P2pException(String message) {
        super(message);
    }

    public P2pException(String message, Throwable cause) {
        super(message, cause);
    }
}
