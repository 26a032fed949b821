package ai.parallax.server;

import java.io.Serial;

/**
 * A failure caused by what the user asked for or by their environment (a missing model directory, an unreadable
 * messages file), not by a bug. Its message is complete on its own and names the thing and the problem, so the CLI
 * prints just the message and the API answers with a client error.
 */
public class UserError extends RuntimeException {

    @Serial
    private static final long serialVersionUID = 1L;

    public UserError(String message) {
        super(message);
    }

    public UserError(String message, Throwable cause) {
        super(message, cause);
    }
}
