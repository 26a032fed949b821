package ai.parallax.tensors.safetensors;

/**
 * A safetensors file or checkpoint directory that cannot be used: malformed, inconsistent, missing, or asked for a
 * tensor it does not hold. The message always names the file or directory, the tensor when there is one, and the
 * problem, so that it can be shown to a user as is.
 */
public class SafetensorsException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public SafetensorsException(String message) {
        super(message);
    }

    public SafetensorsException(String message, Throwable cause) {
        super(message, cause);
    }
}
