package ai.parallax.models.chat;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Python's {@code json.dumps(x, ensure_ascii=..., indent=..., separators=..., sort_keys=...)}, which transformers
 * installs as the {@code tojson} filter. Defaults match that filter: non-ASCII kept, {@code ", "} and {@code ": "}
 * separators (or {@code ","} and {@code ": "} once an indent is given), keys in insertion order.
 */
final class PythonJson {
    private final boolean ensureAscii;
    private final String indent;
    private final String itemSeparator;
    private final String keySeparator;
    private final boolean sortKeys;

    PythonJson(boolean ensureAscii, String indent, String itemSeparator, String keySeparator, boolean sortKeys) {
        this.ensureAscii = ensureAscii;
        this.indent = indent;
        this.itemSeparator = itemSeparator != null ? itemSeparator : (indent == null ? ", " : ",");
        this.keySeparator = keySeparator != null ? keySeparator : ": ";
        this.sortKeys = sortKeys;
    }

    static String dumps(Object value) {
        return new PythonJson(false, null, null, null, false).encode(value);
    }

    String encode(Object value) {
        StringBuilder sb = new StringBuilder();
        write(sb, value, 0);
        return sb.toString();
    }

    private void write(StringBuilder sb, Object v, int depth) {
        switch (v) {
            case null -> sb.append("null");
            case Boolean b -> sb.append(b ? "true" : "false");
            case Long l -> sb.append(l);
            case BigInteger big -> sb.append(big);
            case Double d -> sb.append(floatText(d));
            case String s -> writeString(sb, s);
            case List<?> list -> {
                if (list.isEmpty()) {
                    sb.append("[]");
                    return;
                }
                sb.append('[');
                for (int i = 0; i < list.size(); i++) {
                    if (i > 0) sb.append(itemSeparator);
                    newline(sb, depth + 1);
                    write(sb, list.get(i), depth + 1);
                }
                newline(sb, depth);
                sb.append(']');
            }
            case Map<?, ?> map -> {
                if (map.isEmpty()) {
                    sb.append("{}");
                    return;
                }
                List<Map.Entry<String, Object>> entries = new ArrayList<>();
                for (Map.Entry<?, ?> e : map.entrySet()) entries.add(Map.entry(keyText(e.getKey()), boxNull(e.getValue())));
                if (sortKeys) entries.sort((a, b) -> PythonValues.compareCodePoints(a.getKey(), b.getKey()));
                sb.append('{');
                boolean first = true;
                for (Map.Entry<String, Object> e : entries) {
                    if (!first) sb.append(itemSeparator);
                    first = false;
                    newline(sb, depth + 1);
                    writeString(sb, e.getKey());
                    sb.append(keySeparator);
                    write(sb, unboxNull(e.getValue()), depth + 1);
                }
                newline(sb, depth);
                sb.append('}');
            }
            default -> throw new TemplateException("Object of type " + PythonValues.typeName(v) + " is not JSON serializable");
        }
    }

    private static final Object NULL = new Object();

    private static Object boxNull(Object v) {
        return v == null ? NULL : v;
    }

    private static Object unboxNull(Object v) {
        return v == NULL ? null : v;
    }

    private void newline(StringBuilder sb, int depth) {
        if (indent == null) return;
        sb.append('\n');
        sb.append(indent.repeat(depth));
    }

    private static String floatText(double d) {
        if (Double.isNaN(d)) return "NaN";
        if (Double.isInfinite(d)) return d > 0 ? "Infinity" : "-Infinity";
        return PythonValues.floatRepr(d);
    }

    /** json.dumps turns str, int, float, bool and None keys into strings and rejects others. */
    private static String keyText(Object key) {
        return switch (key) {
            case String s -> s;
            case null -> "null";
            case Boolean b -> b ? "true" : "false";
            case Long l -> l.toString();
            case BigInteger big -> big.toString();
            case Double d -> floatText(d);
            default -> throw new TemplateException("keys must be str, int, float, bool or None, not "
                    + PythonValues.typeName(key));
        };
    }

    private void writeString(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20 || (ensureAscii && c > 0x7e)) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        sb.append('"');
    }
}
