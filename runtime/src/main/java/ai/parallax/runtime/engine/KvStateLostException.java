package ai.parallax.runtime.engine;

/**
 * Thrown by a {@link StepRunner} whose KV state is gone, e.g. a pipeline stage died and the pipeline was rebuilt on
 * other nodes. The engine then recomputes every running sequence from its tokens (prompt and output so far), as it
 * does after pre-emption, and forgets its prefix cache, whose blocks no longer hold what it says. Requests go on
 * without an error and without losing or repeating tokens.
 */
public class KvStateLostException extends RuntimeException {
    public KvStateLostException(String message) {
        super(message);
    }

    public KvStateLostException(String message, Throwable cause) {
        super(message, cause);
    }
}
