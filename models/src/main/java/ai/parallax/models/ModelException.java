package ai.parallax.models;

/** A model directory that cannot be used: unknown architecture, bad config, missing or misshaped tensor. */
public class ModelException extends RuntimeException {
    public ModelException(String message) {
        super(message);
    }

    public ModelException(String message, Throwable cause) {
        super(message, cause);
    }
}
