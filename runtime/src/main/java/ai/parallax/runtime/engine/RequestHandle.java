package ai.parallax.runtime.engine;

/** A submitted request: its id and the way to cancel it. */
public final class RequestHandle {
    private final long id;
    private final InferenceEngine engine;

    RequestHandle(long id, InferenceEngine engine) {
        this.id = id;
        this.engine = engine;
    }

    public long id() {
        return id;
    }

    /**
     * Stops the generation at the next step boundary and frees its KV blocks; the listener then gets
     * {@code onComplete} with finish reason {@code CANCELLED}. Cancelling a finished request does nothing.
     */
    public void cancel() {
        engine.cancel(id);
    }
}
