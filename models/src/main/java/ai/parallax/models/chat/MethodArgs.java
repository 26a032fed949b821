package ai.parallax.models.chat;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Binds a call's positional and keyword arguments to a Python-style signature, rejecting unknown ones. */
final class MethodArgs {
    private final String function;
    private final List<Object> args;
    private final Map<String, Object> kwargs;
    private final Set<String> used = new HashSet<>();

    MethodArgs(String function, List<Object> args, Map<String, Object> kwargs) {
        this.function = function;
        this.args = args;
        this.kwargs = kwargs;
    }

    boolean has(int position, String name) {
        return position < args.size() || kwargs.containsKey(name);
    }

    Object optional(int position, String name, Object fallback) {
        if (position < args.size()) {
            if (kwargs.containsKey(name)) {
                throw new TemplateException(function + "() got multiple values for argument '" + name + "'");
            }
            return args.get(position);
        }
        if (kwargs.containsKey(name)) {
            used.add(name);
            return kwargs.get(name);
        }
        return fallback;
    }

    Object required(int position, String name) {
        if (!has(position, name)) throw new TemplateException(function + "() missing required argument '" + name + "'");
        return optional(position, name, null);
    }

    String string(int position, String name) {
        Object v = required(position, name);
        if (v instanceof String s) return s;
        throw new TemplateException(function + "() argument '" + name + "' must be str, not " + PythonValues.typeName(v));
    }

    /** A str argument where None (or absence) means "not given". */
    String optionalString(int position, String name) {
        Object v = optional(position, name, null);
        if (v == null || v instanceof String) return (String) v;
        throw new TemplateException(function + "() argument '" + name + "' must be str or None, not "
                + PythonValues.typeName(v));
    }

    int optionalInt(int position, String name, int fallback) {
        Object v = optional(position, name, null);
        return v == null ? fallback : PythonValues.toIndex(v, function + "() argument '" + name + "'");
    }

    int intArg(int position, String name) {
        return PythonValues.toIndex(required(position, name), function + "() argument '" + name + "'");
    }

    /** Checks that no more than {@code maxPositional} positional and no unknown keyword arguments were given. */
    void done(int maxPositional) {
        if (args.size() > maxPositional) {
            throw new TemplateException(function + "() takes at most " + maxPositional + " positional argument"
                    + (maxPositional == 1 ? "" : "s") + " (" + args.size() + " given)");
        }
        for (String key : kwargs.keySet()) {
            if (!used.contains(key)) throw new TemplateException(function + "() got an unexpected keyword argument '" + key + "'");
        }
    }

    <T> T none(T result) {
        done(0);
        return result;
    }
}
