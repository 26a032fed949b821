package ai.parallax.p2p.multistream;

/** The peer broke multistream-select, or no protocol could be agreed. */
public final class MultistreamException extends Exception {
    private static final long serialVersionUID = 1L;

    public MultistreamException(String message) {
        super(message);
    }
}
