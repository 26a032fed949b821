package ai.parallax.models.chat;

/**
 * Jinja2's default (lenient) {@code Undefined}: prints as the empty string, is false, has length 0, iterates as
 * empty and equals only another undefined; anything else (attribute or item access, arithmetic, calling it)
 * fails with the reason it is undefined.
 */
final class Undefined {
    private final String reason;

    private Undefined(String reason) {
        this.reason = reason;
    }

    static Undefined variable(String name) {
        return new Undefined("'" + name + "' is undefined");
    }

    static Undefined because(String reason) {
        return new Undefined(reason);
    }

    static Undefined missingAttribute(Object owner, Object name) {
        return new Undefined("'" + PythonValues.objectDescription(owner) + "' has no attribute " + PythonValues.repr(name));
    }

    String reason() {
        return reason;
    }

    TemplateException failure() {
        return new TemplateException(reason);
    }

    @Override
    public String toString() {
        return "";
    }
}
