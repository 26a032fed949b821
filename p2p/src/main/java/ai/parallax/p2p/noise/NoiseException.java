package ai.parallax.p2p.noise;

/** A Noise handshake or transport message that must end the connection. */
public final class NoiseException extends Exception {
    private static final long serialVersionUID = 1L;

    public NoiseException(String message) {
        super(message);
    }

    public NoiseException(String message, Throwable cause) {
        super(message, cause);
    }
}
