package ai.parallax.server.scheduler;

/** The nodes together cannot hold one copy of the model; the message says how much more memory is needed. */
public final class InsufficientMemoryException extends RuntimeException {
    private final long missingBytes;

    public InsufficientMemoryException(String message, long missingBytes) {
        super(message);
        this.missingBytes = missingBytes;
    }

    /** At least this much more memory is needed (on top of what the nodes offer). */
    public long missingBytes() {
        return missingBytes;
    }
}
