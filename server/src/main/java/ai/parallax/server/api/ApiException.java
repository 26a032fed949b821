package ai.parallax.server.api;

import java.io.Serial;

/**
 * A request the API refuses, with the HTTP status and OpenAI's error fields: {@code type} (invalid_request_error,
 * authentication_error, rate_limit_error, server_error...), the offending {@code param}, and a machine {@code code}.
 */
public final class ApiException extends RuntimeException {
    @Serial
    private static final long serialVersionUID = 1L;

    private final int status;
    private final String type;
    private final String param;
    private final String code;

    public ApiException(int status, String type, String param, String code, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** 400 invalid_request_error about {@code param}. */
    public static ApiException invalid(String param, String message) {
        return new ApiException(400, "invalid_request_error", param, null, message);
    }

    public int status() {
        return status;
    }

    public String type() {
        return type;
    }

    public String param() {
        return param;
    }

    public String code() {
        return code;
    }
}
