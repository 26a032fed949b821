package ai.parallax.runtime.engine;

import java.io.Serial;

/** The engine refused a request before queueing it; {@link #reason()} says why, the message says it in words. */
public final class RequestRejectedException extends RuntimeException {
    @Serial
    private static final long serialVersionUID = 1L;

    /** Why a request was refused. */
    public enum Reason {
        /** The waiting queue is at its limit. */
        QUEUE_FULL,
        /** The prompt does not fit the context or the KV pool. */
        CONTEXT_LENGTH_EXCEEDED,
        /** The request is malformed (a token outside the vocabulary). */
        INVALID,
        /** The engine is shut down. */
        CLOSED
    }

    private final Reason reason;

    public RequestRejectedException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
