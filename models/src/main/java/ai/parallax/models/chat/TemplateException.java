package ai.parallax.models.chat;

/**
 * A chat template failed to parse or to render: a syntax error, something the interpreter does not support, a
 * Python-semantics error such as adding a string to an int, or the template's own {@code raise_exception(msg)}.
 *
 * <p>{@link #line()} and {@link #column()} (both 1-based) locate the failing construct in the template source
 * when known, and are 0 otherwise. For {@code raise_exception} the message is exactly the template's text, because
 * templates use it to tell the caller what is wrong with the conversation (for example "roles must alternate").
 */
public final class TemplateException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String detail;
    private final int line;
    private final int column;
    private final boolean raisedByTemplate;

    TemplateException(String detail) {
        this(detail, 0, 0, false, null);
    }

    TemplateException(String detail, Throwable cause) {
        this(detail, 0, 0, false, cause);
    }

    private TemplateException(String detail, int line, int column, boolean raisedByTemplate, Throwable cause) {
        super(raisedByTemplate || line == 0 ? detail : "line " + line + ", column " + column + ": " + detail, cause);
        this.detail = detail;
        this.line = line;
        this.column = column;
        this.raisedByTemplate = raisedByTemplate;
    }

    static TemplateException at(int line, int column, String detail) {
        return new TemplateException(detail, line, column, false, null);
    }

    static TemplateException raisedByTemplate(String message, int line, int column) {
        return new TemplateException(message, line, column, true, null);
    }

    /** This exception with a location attached, unless it already has one. */
    TemplateException located(int line, int column) {
        if (this.line != 0) return this;
        TemplateException located = new TemplateException(detail, line, column, raisedByTemplate, getCause());
        located.setStackTrace(getStackTrace());
        return located;
    }

    /** 1-based line in the template source, or 0 when unknown. */
    public int line() {
        return line;
    }

    /** 1-based column in the template source, or 0 when unknown. */
    public int column() {
        return column;
    }

    /** The problem without the location prefix. */
    public String detail() {
        return detail;
    }

    /** Whether the template itself raised this through {@code raise_exception(msg)}. */
    public boolean raisedByTemplate() {
        return raisedByTemplate;
    }
}
