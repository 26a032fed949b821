package ai.parallax.models.chat;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Python semantics for the values a template sees. The value model: {@code null} is None, {@link Boolean} is bool,
 * {@link Long} (or {@link BigInteger} when too large) is int, {@link Double} is float, {@link String} is str,
 * {@link List} is list, {@link PyTuple} is tuple, {@link Map} is dict (insertion ordered), plus {@link Undefined},
 * {@link Namespace}, {@link LoopContext} and {@link JinjaCallable}. bool counts as an int in arithmetic and
 * comparisons, as in Python.
 */
final class PythonValues {
    private PythonValues() { }

    /** Converts caller data (Jackson-shaped Java values) into the template's value model, copying containers. */
    static Object fromJava(Object value) {
        return switch (value) {
            case null -> null;
            case String s -> s;
            case Boolean b -> b;
            case Long l -> l;
            case Integer i -> (long) i;
            case Short s -> (long) s;
            case Byte b -> (long) b;
            case Double d -> d;
            case Float f -> Double.parseDouble(f.toString());
            case BigInteger big -> big.bitLength() < 64 ? (Object) big.longValue() : big;
            case BigDecimal dec -> dec.doubleValue();
            case Character c -> c.toString();
            case Map<?, ?> map -> {
                Map<Object, Object> copy = new LinkedHashMap<>();
                for (Map.Entry<?, ?> e : map.entrySet()) copy.put(fromJava(e.getKey()), fromJava(e.getValue()));
                yield copy;
            }
            case Collection<?> list -> {
                List<Object> copy = new ArrayList<>(list.size());
                for (Object item : list) copy.add(fromJava(item));
                yield copy;
            }
            case Object[] array -> fromJava(List.of(array));
            case JinjaCallable c -> c;
            default -> throw new TemplateException("cannot pass a " + value.getClass().getName()
                    + " to a chat template; use Map, List, String, Number, Boolean or null");
        };
    }

    static boolean isTrue(Object v) {
        return switch (v) {
            case null -> false;
            case Boolean b -> b;
            case Long l -> l != 0;
            case Double d -> d != 0.0;
            case BigInteger big -> big.signum() != 0;
            case String s -> !s.isEmpty();
            case Collection<?> c -> !c.isEmpty();
            case Map<?, ?> m -> !m.isEmpty();
            case Undefined u -> false;
            default -> true;
        };
    }

    static boolean isInteger(Object v) {
        return v instanceof Long || v instanceof BigInteger || v instanceof Boolean;
    }

    static boolean isNumber(Object v) {
        return isInteger(v) || v instanceof Double;
    }

    /** Python's {@code type(v).__name__}. */
    static String typeName(Object v) {
        return switch (v) {
            case null -> "NoneType";
            case Boolean b -> "bool";
            case Long l -> "int";
            case BigInteger b -> "int";
            case Double d -> "float";
            case String s -> "str";
            case PyTuple t -> "tuple";
            case List<?> l -> "list";
            case Map<?, ?> m -> "dict";
            case Undefined u -> "Undefined";
            case Namespace n -> "Namespace";
            case LoopContext l -> "LoopContext";
            case JinjaCallable c -> "function";
            default -> v.getClass().getSimpleName();
        };
    }

    /** Jinja's {@code object_type_repr}, used in "has no attribute" messages. */
    static String objectDescription(Object v) {
        return v == null ? "None" : typeName(v) + " object";
    }

    // ---- str() and repr() ----

    static String str(Object v) {
        return switch (v) {
            case String s -> s;
            case Undefined u -> "";
            case null, default -> {
                StringBuilder sb = new StringBuilder();
                appendRepr(sb, v, false);
                yield sb.toString();
            }
        };
    }

    static String repr(Object v) {
        StringBuilder sb = new StringBuilder();
        appendRepr(sb, v, true);
        return sb.toString();
    }

    private static void appendRepr(StringBuilder sb, Object v, boolean quoteStrings) {
        switch (v) {
            case null -> sb.append("None");
            case Boolean b -> sb.append(b ? "True" : "False");
            case Long l -> sb.append(l);
            case BigInteger big -> sb.append(big);
            case Double d -> sb.append(floatRepr(d));
            case String s -> {
                if (quoteStrings) appendStringRepr(sb, s);
                else sb.append(s);
            }
            case PyTuple t -> {
                sb.append('(');
                for (int i = 0; i < t.size(); i++) {
                    if (i > 0) sb.append(", ");
                    appendRepr(sb, t.get(i), true);
                }
                sb.append(t.size() == 1 ? ",)" : ")");
            }
            case List<?> list -> {
                sb.append('[');
                for (int i = 0; i < list.size(); i++) {
                    if (i > 0) sb.append(", ");
                    appendRepr(sb, list.get(i), true);
                }
                sb.append(']');
            }
            case Map<?, ?> map -> {
                sb.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : map.entrySet()) {
                    if (!first) sb.append(", ");
                    first = false;
                    appendRepr(sb, e.getKey(), true);
                    sb.append(": ");
                    appendRepr(sb, e.getValue(), true);
                }
                sb.append('}');
            }
            case Undefined u -> sb.append(quoteStrings ? "Undefined" : "");
            case Namespace n -> {
                sb.append("<Namespace ");
                appendRepr(sb, n.attributes, true);
                sb.append('>');
            }
            case LoopContext l -> sb.append("<LoopContext>");
            case JinjaCallable c -> sb.append("<function>");
            default -> sb.append(v);
        }
    }

    /** Python's {@code repr(str)}: single quotes unless the text has a single quote and no double quote. */
    private static void appendStringRepr(StringBuilder sb, String s) {
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        sb.append(quote);
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cp == quote || cp == '\\') sb.append('\\').appendCodePoint(cp);
            else if (cp == '\n') sb.append("\\n");
            else if (cp == '\r') sb.append("\\r");
            else if (cp == '\t') sb.append("\\t");
            else if (PythonStrings.isPrintable(cp)) sb.appendCodePoint(cp);
            else if (cp < 0x100) sb.append(String.format("\\x%02x", cp));
            else if (cp < 0x10000) sb.append(String.format("\\u%04x", cp));
            else sb.append(String.format("\\U%08x", cp));
        }
        sb.append(quote);
    }

    /** Python's {@code repr(float)}: the shortest round-trip digits, positional for 1e-4 <= |x| < 1e16. */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) return "nan";
        if (Double.isInfinite(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return (1 / d < 0) ? "-0.0" : "0.0";
        String sign = d < 0 ? "-" : "";
        BigDecimal exact = new BigDecimal(Double.toString(Math.abs(d))).stripTrailingZeros();
        // Java picks two digits where one would round-trip (e.g. 4.9E-324); Python takes the single digit.
        if (exact.precision() == 2) {
            BigDecimal one = exact.round(new MathContext(1, RoundingMode.HALF_EVEN));
            if (one.doubleValue() == Math.abs(d)) exact = one.stripTrailingZeros();
        }
        String digits = exact.unscaledValue().toString();
        int decimalPoint = digits.length() - exact.scale();
        StringBuilder sb = new StringBuilder(sign);
        if (decimalPoint > 16 || decimalPoint < -3) {
            sb.append(digits.charAt(0));
            if (digits.length() > 1) sb.append('.').append(digits, 1, digits.length());
            int exponent = decimalPoint - 1;
            sb.append('e').append(exponent < 0 ? '-' : '+');
            int abs = Math.abs(exponent);
            if (abs < 10) sb.append('0');
            sb.append(abs);
        } else if (decimalPoint <= 0) {
            sb.append("0.").append("0".repeat(-decimalPoint)).append(digits);
        } else if (decimalPoint < digits.length()) {
            sb.append(digits, 0, decimalPoint).append('.').append(digits, decimalPoint, digits.length());
        } else {
            sb.append(digits).append("0".repeat(decimalPoint - digits.length())).append(".0");
        }
        return sb.toString();
    }

    // ---- equality and ordering ----

    static boolean equal(Object a, Object b) {
        if (a == b) return true;
        if (a == null || b == null) return false;
        if (isNumber(a) && isNumber(b)) return compareNumbers(a, b) == 0;
        if (a instanceof String sa && b instanceof String sb) return sa.equals(sb);
        if (a instanceof Undefined || b instanceof Undefined) return a instanceof Undefined && b instanceof Undefined;
        if (a instanceof List<?> la && b instanceof List<?> lb) {
            if ((a instanceof PyTuple) != (b instanceof PyTuple) || la.size() != lb.size()) return false;
            for (int i = 0; i < la.size(); i++) if (!equal(la.get(i), lb.get(i))) return false;
            return true;
        }
        if (a instanceof Map<?, ?> ma && b instanceof Map<?, ?> mb) {
            if (ma.size() != mb.size()) return false;
            for (Map.Entry<?, ?> e : ma.entrySet()) {
                Object key = findKey(mb, e.getKey());
                if (key == NO_KEY || !equal(e.getValue(), mb.get(key))) return false;
            }
            return true;
        }
        return false;
    }

    private static final Object NO_KEY = new Object();

    /** The key of {@code map} equal to {@code key} under Python equality (1 == 1.0 == True), or NO_KEY. */
    private static Object findKey(Map<?, ?> map, Object key) {
        if (map.containsKey(key)) return key;
        if (isNumber(key)) {
            for (Object k : map.keySet()) if (isNumber(k) && equal(k, key)) return k;
        }
        return NO_KEY;
    }

    static boolean containsKey(Map<?, ?> map, Object key) {
        return findKey(map, key) != NO_KEY;
    }

    /** {@code map[key]} with Python key equality, or {@code missing} when absent. */
    static Object lookup(Map<?, ?> map, Object key, Object missing) {
        Object k = findKey(map, key);
        return k == NO_KEY ? missing : map.get(k);
    }

    private static int compareNumbers(Object a, Object b) {
        if (a instanceof Double || b instanceof Double) {
            double x = toDouble(a);
            double y = toDouble(b);
            if (Double.isNaN(x) || Double.isNaN(y)) return 2; // unordered: never equal, never less or greater
            return Double.compare(x == 0 ? 0.0 : x, y == 0 ? 0.0 : y);
        }
        if (a instanceof BigInteger || b instanceof BigInteger) return toBigInteger(a).compareTo(toBigInteger(b));
        return Long.compare(toLong(a), toLong(b));
    }

    /** Python's ordering for {@code < <= > >=}: numbers, strings (by code point) and sequences; else TypeError. */
    static int compare(Object a, Object b, String op) {
        if (isNumber(a) && isNumber(b)) {
            int c = compareNumbers(a, b);
            if (c == 2) return 2;
            return c;
        }
        if (a instanceof String sa && b instanceof String sb) return compareCodePoints(sa, sb);
        if (a instanceof List<?> la && b instanceof List<?> lb && (a instanceof PyTuple) == (b instanceof PyTuple)) {
            for (int i = 0; i < Math.min(la.size(), lb.size()); i++) {
                if (!equal(la.get(i), lb.get(i))) return compare(la.get(i), lb.get(i), op);
            }
            return Integer.compare(la.size(), lb.size());
        }
        if (a instanceof Undefined u) throw u.failure();
        if (b instanceof Undefined u) throw u.failure();
        throw new TemplateException("'" + op + "' not supported between instances of '" + typeName(a) + "' and '"
                + typeName(b) + "'");
    }

    static int compareCodePoints(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int x = a.codePointAt(i);
            int y = b.codePointAt(j);
            if (x != y) return Integer.compare(x, y);
            i += Character.charCount(x);
            j += Character.charCount(y);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }

    // ---- numbers ----

    static long toLong(Object v) {
        return switch (v) {
            case Long l -> l;
            case Boolean b -> b ? 1 : 0;
            case BigInteger big -> big.longValueExact();
            case null, default -> throw new TemplateException("expected an int, got '" + typeName(v) + "'");
        };
    }

    static double toDouble(Object v) {
        return switch (v) {
            case Double d -> d;
            case Long l -> l;
            case Boolean b -> b ? 1 : 0;
            case BigInteger big -> big.doubleValue();
            case null, default -> throw new TemplateException("expected a number, got '" + typeName(v) + "'");
        };
    }

    static BigInteger toBigInteger(Object v) {
        return v instanceof BigInteger big ? big : BigInteger.valueOf(toLong(v));
    }

    static Object normalizeInteger(BigInteger big) {
        return big.bitLength() < 64 ? (Object) big.longValue() : big;
    }

    /** An index or count argument: an int (or bool), as Python requires. */
    static int toIndex(Object v, String what) {
        if (!isInteger(v)) {
            throw new TemplateException(what + " must be an integer, not '" + typeName(v) + "'");
        }
        long l = toLong(v);
        if (l > Integer.MAX_VALUE || l < Integer.MIN_VALUE) throw new TemplateException(what + " is out of range: " + l);
        return (int) l;
    }

    static Object arithmetic(String op, Object a, Object b) {
        if (a instanceof Undefined u) throw u.failure();
        if (b instanceof Undefined u) throw u.failure();
        if (isNumber(a) && isNumber(b)) return numeric(op, a, b);
        switch (op) {
            case "+" -> {
                if (a instanceof String sa && b instanceof String sb) return sa + sb;
                if (a instanceof List<?> la && b instanceof List<?> lb && (a instanceof PyTuple) == (b instanceof PyTuple)) {
                    List<Object> out = new ArrayList<>(la.size() + lb.size());
                    out.addAll(la);
                    out.addAll(lb);
                    return a instanceof PyTuple ? PyTuple.of(out) : out;
                }
            }
            case "*" -> {
                if (isInteger(b) && (a instanceof String || a instanceof List)) return repeat(a, toLong(b));
                if (isInteger(a) && (b instanceof String || b instanceof List)) return repeat(b, toLong(a));
            }
            case "%" -> {
                if (a instanceof String format) return PythonStrings.percentFormat(format, b);
            }
            default -> { }
        }
        throw new TemplateException("unsupported operand type(s) for " + op + ": '" + typeName(a) + "' and '"
                + typeName(b) + "'");
    }

    private static Object repeat(Object seq, long times) {
        int n = (int) Math.max(0, Math.min(times, 1_000_000));
        if (seq instanceof String s) return s.repeat(n);
        List<?> list = (List<?>) seq;
        List<Object> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.addAll(list);
        return seq instanceof PyTuple ? PyTuple.of(out) : out;
    }

    private static Object numeric(String op, Object a, Object b) {
        boolean floats = a instanceof Double || b instanceof Double;
        if (op.equals("/")) {
            double y = toDouble(b);
            if (y == 0) throw new TemplateException("division by zero");
            return toDouble(a) / y;
        }
        if (floats) {
            double x = toDouble(a);
            double y = toDouble(b);
            return switch (op) {
                case "+" -> x + y;
                case "-" -> x - y;
                case "*" -> x * y;
                case "//" -> {
                    if (y == 0) throw new TemplateException("float floor division by zero");
                    yield Math.floor(x / y);
                }
                case "%" -> {
                    if (y == 0) throw new TemplateException("float modulo");
                    double r = x % y;
                    yield (r != 0 && (r < 0) != (y < 0)) ? r + y : r;
                }
                case "**" -> Math.pow(x, y);
                default -> throw new IllegalStateException(op);
            };
        }
        BigInteger x = toBigInteger(a);
        BigInteger y = toBigInteger(b);
        return switch (op) {
            case "+" -> normalizeInteger(x.add(y));
            case "-" -> normalizeInteger(x.subtract(y));
            case "*" -> normalizeInteger(x.multiply(y));
            case "//" -> {
                if (y.signum() == 0) throw new TemplateException("integer division or modulo by zero");
                BigInteger[] qr = x.divideAndRemainder(y);
                BigInteger q = qr[0];
                if (qr[1].signum() != 0 && qr[1].signum() != y.signum()) q = q.subtract(BigInteger.ONE);
                yield normalizeInteger(q);
            }
            case "%" -> {
                if (y.signum() == 0) throw new TemplateException("integer division or modulo by zero");
                BigInteger r = x.mod(y.abs());
                if (y.signum() < 0 && r.signum() != 0) r = r.add(y);
                yield normalizeInteger(r);
            }
            case "**" -> {
                if (y.signum() < 0) yield Math.pow(x.doubleValue(), y.doubleValue());
                if (y.bitLength() > 16) throw new TemplateException("exponent too large: " + y);
                yield normalizeInteger(x.pow(y.intValue()));
            }
            default -> throw new IllegalStateException(op);
        };
    }

    static Object negate(Object v) {
        return switch (v) {
            case Double d -> -d;
            case Long l -> l == Long.MIN_VALUE ? BigInteger.valueOf(l).negate() : (Object) (-l);
            case Boolean b -> b ? -1L : 0L;
            case BigInteger big -> normalizeInteger(big.negate());
            case Undefined u -> throw u.failure();
            case null, default -> throw new TemplateException("bad operand type for unary -: '" + typeName(v) + "'");
        };
    }

    // ---- containers ----

    /** Python's {@code len()}. */
    static int length(Object v) {
        return switch (v) {
            case String s -> s.codePointCount(0, s.length());
            case Collection<?> c -> c.size();
            case Map<?, ?> m -> m.size();
            case Undefined u -> 0;
            case Namespace n -> throw new TemplateException("object of type 'Namespace' has no len()");
            case null, default -> throw new TemplateException("object of type '" + typeName(v) + "' has no len()");
        };
    }

    /** The items Python's {@code iter()} yields: list items, dict keys, a string's characters; undefined is empty. */
    static List<Object> iterate(Object v) {
        return switch (v) {
            case List<?> list -> new ArrayList<>(list);
            case Map<?, ?> map -> new ArrayList<>(map.keySet());
            case String s -> PythonStrings.characters(s);
            case Collection<?> c -> new ArrayList<>(c);
            case Undefined u -> new ArrayList<>();
            case null, default -> throw new TemplateException("'" + typeName(v) + "' object is not iterable");
        };
    }

    /** Python's {@code item in container}. */
    static boolean contains(Object container, Object item) {
        switch (container) {
            case String s -> {
                if (item instanceof String needle) return s.contains(needle);
                if (item instanceof Undefined u) throw u.failure();
                throw new TemplateException("'in <string>' requires string as left operand, not " + typeName(item));
            }
            case Map<?, ?> map -> {
                return containsKey(map, item);
            }
            case Collection<?> c -> {
                for (Object x : c) if (equal(x, item)) return true;
                return false;
            }
            case Undefined u -> {
                return false;
            }
            case null, default -> throw new TemplateException("argument of type '" + typeName(container) + "' is not iterable");
        }
    }

    static Iterator<Object> iterator(Object v) {
        return iterate(v).iterator();
    }
}
