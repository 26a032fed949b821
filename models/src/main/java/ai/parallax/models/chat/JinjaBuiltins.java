package ai.parallax.models.chat;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Clock;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Jinja2's built-in filters and tests, transformers' {@code tojson}, and the globals a chat template may call
 * ({@code range}, {@code dict}, {@code namespace}, {@code raise_exception}, {@code strftime_now}). Names that are not
 * implemented fail with a message naming them, never silently.
 */
final class JinjaBuiltins {
    /** Jinja's sandbox refuses ranges longer than this. */
    private static final int MAX_RANGE = 100_000;

    private final Clock clock;
    private JinjaInterpreter interpreter;

    JinjaBuiltins(Clock clock) {
        this.clock = clock;
    }

    void attach(JinjaInterpreter interpreter) {
        this.interpreter = interpreter;
    }

    // ---- globals ----

    Map<String, Object> globals() {
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("range", (JinjaCallable) (args, kwargs) -> range(args, kwargs));
        g.put("dict", (JinjaCallable) (args, kwargs) -> {
            if (args.size() > 1) throw new TemplateException("dict expected at most 1 positional argument");
            Map<Object, Object> map = new LinkedHashMap<>();
            if (args.size() == 1) putAll(map, args.getFirst());
            map.putAll(kwargs);
            return map;
        });
        g.put("namespace", (JinjaCallable) (args, kwargs) -> {
            if (args.size() > 1) throw new TemplateException("namespace expected at most 1 positional argument");
            Map<Object, Object> initial = new LinkedHashMap<>();
            if (args.size() == 1) putAll(initial, args.getFirst());
            Namespace ns = new Namespace();
            initial.forEach((k, v) -> ns.attributes.put(PythonValues.str(k), v));
            ns.attributes.putAll(kwargs);
            return ns;
        });
        g.put("raise_exception", (JinjaCallable) (args, kwargs) -> {
            String message = args.isEmpty() ? "" : PythonValues.str(args.getFirst());
            throw TemplateException.raisedByTemplate(message, 0, 0);
        });
        g.put("strftime_now", (JinjaCallable) (args, kwargs) -> {
            MethodArgs a = new MethodArgs("strftime_now", args, kwargs);
            String format = a.string(0, "format");
            a.done(1);
            return PythonStrftime.format(ZonedDateTime.now(clock), format);
        });
        return g;
    }

    private static void putAll(Map<Object, Object> target, Object source) {
        if (source instanceof Map<?, ?> m) {
            target.putAll(m);
            return;
        }
        for (Object pair : PythonValues.iterate(source)) {
            List<Object> kv = PythonValues.iterate(pair);
            if (kv.size() != 2) throw new TemplateException("dictionary update sequence element has length " + kv.size() + "; 2 is required");
            target.put(kv.get(0), kv.get(1));
        }
    }

    private static Object range(List<Object> args, Map<String, Object> kwargs) {
        if (!kwargs.isEmpty()) throw new TemplateException("range() takes no keyword arguments");
        if (args.isEmpty() || args.size() > 3) throw new TemplateException("range expected 1 to 3 arguments, got " + args.size());
        long start = 0;
        long stop;
        long step = 1;
        if (args.size() == 1) {
            stop = PythonValues.toIndex(args.get(0), "range() argument");
        } else {
            start = PythonValues.toIndex(args.get(0), "range() argument");
            stop = PythonValues.toIndex(args.get(1), "range() argument");
            if (args.size() == 3) step = PythonValues.toIndex(args.get(2), "range() argument");
        }
        if (step == 0) throw new TemplateException("range() arg 3 must not be zero");
        List<Object> out = new ArrayList<>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step) {
            if (out.size() >= MAX_RANGE) {
                throw new TemplateException("Range too big. The sandbox blocks ranges larger than MAX_RANGE (" + MAX_RANGE + ").");
            }
            out.add(i);
        }
        return out;
    }

    // ---- filters ----

    Object filter(String name, Object value, List<Object> args, Map<String, Object> kwargs) {
        MethodArgs a = new MethodArgs("filter " + name, args, kwargs);
        switch (name) {
            case "tojson" -> {
                Object ensureAscii = a.optional(0, "ensure_ascii", false);
                Object indent = a.optional(1, "indent", null);
                Object separators = a.optional(2, "separators", null);
                Object sortKeys = a.optional(3, "sort_keys", false);
                a.done(4);
                String indentText = switch (indent) {
                    case null -> null;
                    case String s -> s;
                    default -> " ".repeat(Math.max(0, PythonValues.toIndex(indent, "tojson indent")));
                };
                String itemSep = null;
                String keySep = null;
                if (separators != null) {
                    List<Object> seps = PythonValues.iterate(separators);
                    if (seps.size() != 2) throw new TemplateException("tojson separators must be a pair (item, key)");
                    itemSep = PythonValues.str(seps.get(0));
                    keySep = PythonValues.str(seps.get(1));
                }
                return new PythonJson(PythonValues.isTrue(ensureAscii), indentText, itemSep, keySep,
                        PythonValues.isTrue(sortKeys)).encode(value);
            }
            case "length", "count" -> {
                a.done(0);
                return (long) PythonValues.length(value);
            }
            case "default", "d" -> {
                Object fallback = a.optional(0, "default_value", "");
                boolean useBoolean = PythonValues.isTrue(a.optional(1, "boolean", false));
                a.done(2);
                return value instanceof Undefined || (useBoolean && !PythonValues.isTrue(value)) ? fallback : value;
            }
            case "trim" -> {
                String chars = a.optionalString(0, "chars");
                a.done(1);
                return PythonStrings.strip(PythonValues.str(value), chars, true, true);
            }
            case "upper" -> {
                return a.none(PythonStrings.upper(PythonValues.str(value)));
            }
            case "lower" -> {
                return a.none(PythonStrings.lower(PythonValues.str(value)));
            }
            case "capitalize" -> {
                return a.none(PythonStrings.capitalize(PythonValues.str(value)));
            }
            case "title" -> {
                return a.none(jinjaTitle(PythonValues.str(value)));
            }
            case "string" -> {
                return a.none(PythonValues.str(value));
            }
            case "safe" -> {
                return a.none(PythonValues.str(value));
            }
            case "escape", "e" -> {
                return a.none(escapeHtml(PythonValues.str(value)));
            }
            case "first" -> {
                a.done(0);
                List<Object> items = PythonValues.iterate(value);
                return items.isEmpty() ? Undefined.because("No first item, sequence was empty.") : items.getFirst();
            }
            case "last" -> {
                a.done(0);
                List<Object> items = PythonValues.iterate(value);
                return items.isEmpty() ? Undefined.because("No last item, sequence was empty.") : items.getLast();
            }
            case "join" -> {
                String separator = PythonValues.str(a.optional(0, "d", ""));
                Object attribute = a.optional(1, "attribute", null);
                a.done(2);
                StringBuilder sb = new StringBuilder();
                boolean first = true;
                for (Object item : PythonValues.iterate(value)) {
                    if (!first) sb.append(separator);
                    first = false;
                    sb.append(PythonValues.str(attribute == null ? item : attributeOf(item, attribute, null)));
                }
                return sb.toString();
            }
            case "replace" -> {
                String s = PythonValues.str(value);
                String old = PythonValues.str(a.required(0, "old"));
                String replacement = PythonValues.str(a.required(1, "new"));
                int count = a.optionalInt(2, "count", -1);
                a.done(3);
                return PythonStrings.replace(s, old, replacement, count);
            }
            case "int" -> {
                Object fallback = a.optional(0, "default", 0L);
                int base = a.optionalInt(1, "base", 10);
                a.done(2);
                return toInt(value, fallback, base);
            }
            case "float" -> {
                Object fallback = a.optional(0, "default", 0.0);
                a.done(1);
                return toFloat(value, fallback);
            }
            case "abs" -> {
                a.done(0);
                if (value instanceof Double d) return Math.abs(d);
                if (PythonValues.isInteger(value)) {
                    return PythonValues.toLong(value) < 0 ? PythonValues.negate(value) : (Object) PythonValues.toLong(value);
                }
                throw new TemplateException("bad operand type for abs(): '" + PythonValues.typeName(value) + "'");
            }
            case "round" -> {
                int precision = a.optionalInt(0, "precision", 0);
                String method = PythonValues.str(a.optional(1, "method", "common"));
                a.done(2);
                return round(value, precision, method);
            }
            case "list" -> {
                a.done(0);
                return PythonValues.iterate(value);
            }
            case "items" -> {
                a.done(0);
                if (value instanceof Undefined) return new ArrayList<>();
                if (!(value instanceof Map<?, ?> map)) throw new TemplateException("Can only get item pairs from a mapping.");
                List<Object> items = new ArrayList<>();
                map.forEach((k, v) -> items.add(new PyTuple(k, v)));
                return items;
            }
            case "reverse" -> {
                a.done(0);
                if (value instanceof String s) return String.join("", PythonStrings.characters(s).reversed().stream().map(o -> (String) o).toList());
                return new ArrayList<>(PythonValues.iterate(value).reversed());
            }
            case "sum" -> {
                Object attribute = a.optional(0, "attribute", null);
                Object total = a.optional(1, "start", 0L);
                a.done(2);
                for (Object item : PythonValues.iterate(value)) {
                    total = PythonValues.arithmetic("+", total, attribute == null ? item : attributeOf(item, attribute, null));
                }
                return total;
            }
            case "min", "max" -> {
                boolean caseSensitive = PythonValues.isTrue(a.optional(0, "case_sensitive", false));
                Object attribute = a.optional(1, "attribute", null);
                a.done(2);
                List<Object> items = PythonValues.iterate(value);
                if (items.isEmpty()) return Undefined.because("No aggregated item, sequence was empty.");
                Function<Object, Object> key = sortKey(caseSensitive, attribute);
                Object best = items.getFirst();
                Object bestKey = key.apply(best);
                for (Object item : items.subList(1, items.size())) {
                    Object k = key.apply(item);
                    int c = PythonValues.compare(k, bestKey, name.equals("min") ? "<" : ">");
                    if (name.equals("min") ? c < 0 : c > 0) {
                        best = item;
                        bestKey = k;
                    }
                }
                return best;
            }
            case "sort" -> {
                boolean reverse = PythonValues.isTrue(a.optional(0, "reverse", false));
                boolean caseSensitive = PythonValues.isTrue(a.optional(1, "case_sensitive", false));
                Object attribute = a.optional(2, "attribute", null);
                a.done(3);
                return sorted(PythonValues.iterate(value), sortKey(caseSensitive, attribute), reverse);
            }
            case "dictsort" -> {
                boolean caseSensitive = PythonValues.isTrue(a.optional(0, "case_sensitive", false));
                String by = PythonValues.str(a.optional(1, "by", "key"));
                boolean reverse = PythonValues.isTrue(a.optional(2, "reverse", false));
                a.done(3);
                if (!(value instanceof Map<?, ?> map)) throw new TemplateException("dictsort needs a mapping");
                int position = switch (by) {
                    case "key" -> 0;
                    case "value" -> 1;
                    default -> throw new TemplateException("You can only sort by either \"key\" or \"value\"");
                };
                List<Object> items = new ArrayList<>();
                map.forEach((k, v) -> items.add(new PyTuple(k, v)));
                return sorted(items, item -> {
                    Object part = ((PyTuple) item).get(position);
                    return !caseSensitive && part instanceof String s ? PythonStrings.lower(s) : part;
                }, reverse);
            }
            case "unique" -> {
                boolean caseSensitive = PythonValues.isTrue(a.optional(0, "case_sensitive", false));
                Object attribute = a.optional(1, "attribute", null);
                a.done(2);
                Function<Object, Object> key = sortKey(caseSensitive, attribute);
                List<Object> seen = new ArrayList<>();
                List<Object> out = new ArrayList<>();
                for (Object item : PythonValues.iterate(value)) {
                    Object k = key.apply(item);
                    if (!PythonValues.contains(seen, k)) {
                        seen.add(k);
                        out.add(item);
                    }
                }
                return out;
            }
            case "map" -> {
                List<Object> out = new ArrayList<>();
                if (args.isEmpty() && kwargs.containsKey("attribute")) {
                    Object attribute = a.optional(99, "attribute", null);
                    Object fallback = a.optional(99, "default", null);
                    a.done(0);
                    for (Object item : PythonValues.iterate(value)) out.add(attributeOf(item, attribute, fallback));
                    return out;
                }
                if (args.isEmpty()) throw new TemplateException("map requires a filter name or attribute=");
                String filterName = PythonValues.str(args.getFirst());
                List<Object> rest = args.subList(1, args.size());
                for (Object item : PythonValues.iterate(value)) out.add(filter(filterName, item, rest, kwargs));
                return out;
            }
            case "select", "reject", "selectattr", "rejectattr" -> {
                boolean byAttribute = name.endsWith("attr");
                boolean keep = name.startsWith("select");
                int offset = byAttribute ? 1 : 0;
                if (byAttribute && args.isEmpty()) throw new TemplateException(name + " requires an attribute name");
                Object attribute = byAttribute ? args.getFirst() : null;
                String testName = args.size() > offset ? PythonValues.str(args.get(offset)) : null;
                List<Object> testArgs = args.size() > offset + 1 ? args.subList(offset + 1, args.size()) : List.of();
                List<Object> out = new ArrayList<>();
                for (Object item : PythonValues.iterate(value)) {
                    Object subject = byAttribute ? attributeOf(item, attribute, null) : item;
                    boolean passed = testName == null ? PythonValues.isTrue(subject) : test(testName, subject, testArgs, kwargs);
                    if (passed == keep) out.add(item);
                }
                return out;
            }
            case "indent" -> {
                Object width = a.optional(0, "width", 4L);
                boolean first = PythonValues.isTrue(a.optional(1, "first", false));
                boolean blank = PythonValues.isTrue(a.optional(2, "blank", false));
                a.done(3);
                String indentation = width instanceof String s ? s : " ".repeat(Math.max(0, PythonValues.toIndex(width, "indent width")));
                return indent(PythonValues.str(value), indentation, first, blank);
            }
            case "wordcount" -> {
                a.done(0);
                Matcher m = WORD.matcher(PythonValues.str(value));
                long n = 0;
                while (m.find()) n++;
                return n;
            }
            case "center" -> {
                int width = a.optionalInt(0, "width", 80);
                a.done(1);
                return PythonStrings.call(PythonValues.str(value), "center", List.of((long) width), Map.of());
            }
            case "batch" -> {
                int size = a.intArg(0, "linecount");
                Object fill = a.optional(1, "fill_with", null);
                boolean fillGiven = a.has(1, "fill_with");
                a.done(2);
                if (size <= 0) throw new TemplateException("batch size must be positive");
                List<Object> out = new ArrayList<>();
                List<Object> current = new ArrayList<>();
                for (Object item : PythonValues.iterate(value)) {
                    current.add(item);
                    if (current.size() == size) {
                        out.add(current);
                        current = new ArrayList<>();
                    }
                }
                if (!current.isEmpty()) {
                    if (fillGiven && fill != null) while (current.size() < size) current.add(fill);
                    out.add(current);
                }
                return out;
            }
            case "attr" -> {
                String attribute = a.string(0, "name");
                a.done(1);
                if (value instanceof Map<?, ?>) return Undefined.missingAttribute(value, attribute);
                return interpreter.getAttribute(value, attribute);
            }
            case "format" -> {
                if (!args.isEmpty() && !kwargs.isEmpty()) {
                    throw new TemplateException("can't handle positional and keyword arguments at the same time");
                }
                if (!kwargs.isEmpty()) throw new TemplateException("the format filter with keyword arguments is not supported");
                return PythonStrings.percentFormat(PythonValues.str(value), PyTuple.of(args));
            }
            default -> throw new TemplateException("filter '" + name + "' is not supported");
        }
    }

    private static final Pattern WORD = Pattern.compile("\\w+", Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern WORD_BEGINNING = Pattern.compile("([-\\s({\\[<]+)", Pattern.UNICODE_CHARACTER_CLASS);

    /** Jinja's {@code title} filter (not Python's): capitalises each piece after a run of {@code -}, space or brackets. */
    private static String jinjaTitle(String s) {
        StringBuilder out = new StringBuilder();
        Matcher m = WORD_BEGINNING.matcher(s);
        int last = 0;
        while (m.find()) {
            titlePiece(out, s.substring(last, m.start()));
            out.append(m.group());
            last = m.end();
        }
        titlePiece(out, s.substring(last));
        return out.toString();
    }

    private static void titlePiece(StringBuilder out, String piece) {
        if (piece.isEmpty()) return;
        int first = piece.codePointAt(0);
        out.append(PythonStrings.upper(Character.toString(first)));
        out.append(PythonStrings.lower(piece.substring(Character.charCount(first))));
    }

    private static String escapeHtml(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&#34;").replace("'", "&#39;");
    }

    /** Jinja 3.1's indent filter: lines after the first are indented; blank lines only when {@code blank}. */
    private static String indent(String s, String indentation, boolean first, boolean blank) {
        List<Object> lines = PythonStrings.splitLines(s + "\n", false);
        StringBuilder rv = new StringBuilder();
        if (blank) {
            for (int i = 0; i < lines.size(); i++) {
                if (i > 0) rv.append('\n').append(indentation);
                rv.append((String) lines.get(i));
            }
        } else {
            rv.append((String) lines.getFirst());
            if (lines.size() > 1) {
                rv.append('\n');
                for (int i = 1; i < lines.size(); i++) {
                    if (i > 1) rv.append('\n');
                    String line = (String) lines.get(i);
                    if (!line.isEmpty()) rv.append(indentation);
                    rv.append(line);
                }
            }
        }
        return first ? indentation + rv : rv.toString();
    }

    private static Object toInt(Object value, Object fallback, int base) {
        try {
            if (value instanceof String s) return parsePythonInt(s, base);
            if (PythonValues.isInteger(value)) return PythonValues.toLong(value);
            if (value instanceof Double d) {
                if (d.isNaN() || d.isInfinite()) return fallback;
                return PythonValues.normalizeInteger(new BigDecimal(d).toBigInteger());
            }
            return fallback;
        } catch (NumberFormatException e) {
            Object f = toFloat(value, null);
            if (f instanceof Double d && !d.isNaN() && !d.isInfinite()) {
                return PythonValues.normalizeInteger(new BigDecimal(d).toBigInteger());
            }
            return fallback;
        }
    }

    private static Object parsePythonInt(String s, int base) {
        String t = PythonStrings.strip(s, null, true, true).replace("_", "");
        return PythonValues.normalizeInteger(new java.math.BigInteger(t.startsWith("+") ? t.substring(1) : t, base));
    }

    private static Object toFloat(Object value, Object fallback) {
        if (value instanceof Double d) return d;
        if (PythonValues.isInteger(value)) return PythonValues.toDouble(value);
        if (value instanceof String s) {
            String t = PythonStrings.strip(s, null, true, true).replace("_", "");
            String lower = PythonStrings.lower(t);
            switch (lower) {
                case "inf", "+inf", "infinity", "+infinity" -> { return Double.POSITIVE_INFINITY; }
                case "-inf", "-infinity" -> { return Double.NEGATIVE_INFINITY; }
                case "nan", "+nan", "-nan" -> { return Double.NaN; }
                default -> { }
            }
            if (!t.matches("[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?")) return fallback;
            return Double.parseDouble(t);
        }
        return fallback;
    }

    /** Jinja's round filter: "common" is Python's round() (half-even on the exact binary value); int stays int. */
    private static Object round(Object value, int precision, String method) {
        if (!PythonValues.isNumber(value)) {
            throw new TemplateException("round needs a number, got '" + PythonValues.typeName(value) + "'");
        }
        if (!List.of("common", "ceil", "floor").contains(method)) {
            throw new TemplateException("method must be common, ceil or floor");
        }
        if (method.equals("common")) {
            if (PythonValues.isInteger(value) && precision >= 0) return PythonValues.toLong(value);
            double d = PythonValues.toDouble(value);
            if (Double.isNaN(d) || Double.isInfinite(d)) return d;
            return new BigDecimal(d).setScale(precision, RoundingMode.HALF_EVEN).doubleValue();
        }
        double scale = Math.pow(10, precision);
        double scaled = PythonValues.toDouble(value) * scale;
        return (method.equals("ceil") ? Math.ceil(scaled) : Math.floor(scaled)) / scale;
    }

    /** Jinja's {@code make_attrgetter}: dotted path, digit parts as indexes, item-first lookup, default for undefined. */
    private Object attributeOf(Object item, Object attribute, Object fallback) {
        List<Object> parts = new ArrayList<>();
        if (attribute instanceof String s) {
            for (String part : s.split("\\.", -1)) parts.add(part.chars().allMatch(Character::isDigit) && !part.isEmpty() ? (Object) Long.parseLong(part) : part);
        } else {
            parts.add(attribute);
        }
        Object v = item;
        for (Object part : parts) {
            v = interpreter.getItem(v, part);
        }
        if (v instanceof Undefined && fallback != null) return fallback;
        return v;
    }

    private Function<Object, Object> sortKey(boolean caseSensitive, Object attribute) {
        return item -> {
            Object k = attribute == null ? item : attributeOf(item, attribute, null);
            return !caseSensitive && k instanceof String s ? PythonStrings.lower(s) : k;
        };
    }

    private static List<Object> sorted(List<Object> items, Function<Object, Object> key, boolean reverse) {
        List<Object> keys = new ArrayList<>(items.size());
        for (Object item : items) keys.add(key.apply(item));
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < items.size(); i++) order.add(i);
        Comparator<Integer> byKey = (x, y) -> {
            int c = PythonValues.compare(keys.get(x), keys.get(y), "<");
            return c == 2 ? 0 : c;
        };
        // Python's reverse=True keeps equal items in their original order, unlike reversing a sorted list.
        order.sort(reverse ? (x, y) -> byKey.compare(y, x) : byKey);
        List<Object> out = new ArrayList<>(items.size());
        for (int i : order) out.add(items.get(i));
        return out;
    }

    // ---- tests ----

    boolean test(String name, Object value, List<Object> args, Map<String, Object> kwargs) {
        MethodArgs a = new MethodArgs("test " + name, args, kwargs);
        return switch (name) {
            case "defined" -> a.none(!(value instanceof Undefined));
            case "undefined" -> a.none(value instanceof Undefined);
            case "none" -> a.none(value == null);
            case "boolean" -> a.none(value instanceof Boolean);
            case "true" -> a.none(Boolean.TRUE.equals(value));
            case "false" -> a.none(Boolean.FALSE.equals(value));
            case "integer" -> a.none(value instanceof Long || value instanceof java.math.BigInteger);
            case "float" -> a.none(value instanceof Double);
            case "number" -> a.none(PythonValues.isNumber(value));
            case "string" -> a.none(value instanceof String);
            case "mapping" -> a.none(value instanceof Map);
            case "iterable" -> a.none(value instanceof String || value instanceof List || value instanceof Map
                    || value instanceof Undefined);
            case "sequence" -> a.none(value instanceof String || value instanceof List || value instanceof Map
                    || value instanceof Undefined);
            case "callable" -> a.none(value instanceof JinjaCallable);
            case "escaped" -> a.none(false);
            case "odd", "even" -> {
                a.done(0);
                Object remainder = PythonValues.arithmetic("%", value, 2L);
                yield PythonValues.equal(remainder, name.equals("odd") ? 1L : 0L);
            }
            case "divisibleby" -> {
                Object divisor = a.required(0, "num");
                a.done(1);
                yield PythonValues.equal(PythonValues.arithmetic("%", value, divisor), 0L);
            }
            case "eq", "equalto", "==" -> PythonValues.equal(value, single(a));
            case "ne", "!=" -> !PythonValues.equal(value, single(a));
            case "lt", "lessthan", "<" -> PythonValues.compare(value, single(a), "<") == -1;
            case "le", "<=" -> { int c = PythonValues.compare(value, single(a), "<="); yield c == -1 || c == 0; }
            case "gt", "greaterthan", ">" -> PythonValues.compare(value, single(a), ">") == 1;
            case "ge", ">=" -> { int c = PythonValues.compare(value, single(a), ">="); yield c == 1 || c == 0; }
            case "in" -> PythonValues.contains(single(a), value);
            case "sameas" -> {
                Object other = single(a);
                yield value == other || (value instanceof Boolean && value.equals(other))
                        || (value instanceof Long && value.equals(other) && (Long) value >= -5 && (Long) value <= 256);
            }
            case "lower" -> a.none((Boolean) PythonStrings.call(PythonValues.str(value), "islower", List.of(), Map.of()));
            case "upper" -> a.none((Boolean) PythonStrings.call(PythonValues.str(value), "isupper", List.of(), Map.of()));
            case "filter" -> a.none(isFilterName(value));
            case "test" -> a.none(isTestName(value));
            default -> throw new TemplateException("test '" + name + "' is not supported");
        };
    }

    private static Object single(MethodArgs a) {
        Object other = a.required(0, "other");
        a.done(1);
        return other;
    }

    private static final List<String> FILTERS = List.of("tojson", "length", "count", "default", "d", "trim", "upper",
            "lower", "capitalize", "title", "string", "safe", "escape", "e", "first", "last", "join", "replace", "int",
            "float", "abs", "round", "list", "items", "reverse", "sum", "min", "max", "sort", "dictsort", "unique", "map",
            "select", "reject", "selectattr", "rejectattr", "indent", "wordcount", "center", "batch", "attr", "format");
    private static final List<String> TESTS = List.of("defined", "undefined", "none", "boolean", "true", "false",
            "integer", "float", "number", "string", "mapping", "iterable", "sequence", "callable", "escaped", "odd",
            "even", "divisibleby", "eq", "equalto", "==", "ne", "!=", "lt", "lessthan", "<", "le", "<=", "gt",
            "greaterthan", ">", "ge", ">=", "in", "sameas", "lower", "upper", "filter", "test");

    private static boolean isFilterName(Object v) {
        return v instanceof String s && FILTERS.contains(s);
    }

    private static boolean isTestName(Object v) {
        return v instanceof String s && TESTS.contains(s);
    }
}
