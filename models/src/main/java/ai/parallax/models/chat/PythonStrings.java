package ai.parallax.models.chat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Python's {@code str} methods with CPython's exact definitions of whitespace, line breaks and cased characters,
 * working on code points (so an emoji counts as one character, as in Python).
 */
final class PythonStrings {
    private PythonStrings() { }

    /** CPython's {@code Py_UNICODE_ISSPACE}: what {@code str.isspace}, {@code strip()}, {@code split()} and {@code \s} use. */
    static boolean isSpace(int cp) {
        return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f
                || cp == 0x3000;
    }

    /** Line boundaries of {@code str.splitlines}. */
    private static boolean isLineBreak(int cp) {
        return cp == '\n' || cp == '\r' || cp == 0x0b || cp == 0x0c || cp == 0x1c || cp == 0x1d || cp == 0x1e
                || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
    }

    /** {@code str.isprintable} per character: not in categories Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs (space excepted). */
    static boolean isPrintable(int cp) {
        if (cp == ' ') return true;
        return switch (Character.getType(cp)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE, Character.UNASSIGNED,
                 Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR, Character.SPACE_SEPARATOR -> false;
            default -> true;
        };
    }

    static String rstripWhitespace(String s) {
        return strip(s, null, false, true);
    }

    static List<Object> characters(String s) {
        List<Object> out = new ArrayList<>(s.length());
        s.codePoints().forEach(cp -> out.add(Character.toString(cp)));
        return out;
    }

    /** {@code strip/lstrip/rstrip}: whitespace when {@code chars} is null, else any code point of {@code chars}. */
    static String strip(String s, String chars, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        if (left) {
            while (start < end) {
                int cp = s.codePointAt(start);
                if (!stripped(cp, chars)) break;
                start += Character.charCount(cp);
            }
        }
        if (right) {
            while (end > start) {
                int cp = s.codePointBefore(end);
                if (!stripped(cp, chars)) break;
                end -= Character.charCount(cp);
            }
        }
        return s.substring(start, end);
    }

    private static boolean stripped(int cp, String chars) {
        return chars == null ? isSpace(cp) : chars.indexOf(Character.toString(cp)) >= 0;
    }

    /** {@code str.split(sep, maxsplit)}; {@code sep == null} splits on whitespace runs and drops empty pieces. */
    static List<Object> split(String s, String sep, int maxSplit) {
        List<Object> out = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && isSpace(s.codePointAt(i))) i += Character.charCount(s.codePointAt(i));
                if (i >= n) break;
                if (maxSplit >= 0 && out.size() == maxSplit) {
                    out.add(strip(s.substring(i), null, false, true));
                    break;
                }
                int start = i;
                while (i < n && !isSpace(s.codePointAt(i))) i += Character.charCount(s.codePointAt(i));
                out.add(s.substring(start, i));
            }
            return out;
        }
        if (sep.isEmpty()) throw new TemplateException("empty separator");
        int start = 0;
        while (maxSplit < 0 || out.size() < maxSplit) {
            int found = s.indexOf(sep, start);
            if (found < 0) break;
            out.add(s.substring(start, found));
            start = found + sep.length();
        }
        out.add(s.substring(start));
        return out;
    }

    static List<Object> rsplit(String s, String sep, int maxSplit) {
        if (maxSplit < 0) return split(s, sep, maxSplit);
        List<Object> out = new ArrayList<>();
        if (sep == null) {
            int i = s.length();
            while (true) {
                while (i > 0 && isSpace(s.codePointBefore(i))) i -= Character.charCount(s.codePointBefore(i));
                if (i <= 0) break;
                if (out.size() == maxSplit) {
                    out.addFirst(strip(s.substring(0, i), null, true, false));
                    break;
                }
                int end = i;
                while (i > 0 && !isSpace(s.codePointBefore(i))) i -= Character.charCount(s.codePointBefore(i));
                out.addFirst(s.substring(i, end));
            }
            return out;
        }
        if (sep.isEmpty()) throw new TemplateException("empty separator");
        int end = s.length();
        while (out.size() < maxSplit) {
            int found = s.lastIndexOf(sep, end - sep.length());
            if (found < 0) break;
            out.addFirst(s.substring(found + sep.length(), end));
            end = found;
        }
        out.addFirst(s.substring(0, end));
        return out;
    }

    static List<Object> splitLines(String s, boolean keepEnds) {
        List<Object> out = new ArrayList<>();
        int i = 0;
        int start = 0;
        while (i < s.length()) {
            int cp = s.codePointAt(i);
            int next = i + Character.charCount(cp);
            if (isLineBreak(cp)) {
                if (cp == '\r' && next < s.length() && s.charAt(next) == '\n') next++;
                out.add(s.substring(start, keepEnds ? next : i));
                start = next;
            }
            i = next;
        }
        if (start < s.length()) out.add(s.substring(start));
        return out;
    }

    private static boolean isCased(int cp) {
        return Character.isUpperCase(cp) || Character.isLowerCase(cp) || Character.isTitleCase(cp);
    }

    /** {@code str.title}: a cased character after an uncased one starts a word. */
    static String title(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        boolean previousCased = false;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (previousCased) sb.append(Character.toString(cp).toLowerCase(java.util.Locale.ROOT));
            else sb.append(titleCase(cp));
            previousCased = isCased(cp);
        }
        return sb.toString();
    }

    private static String titleCase(int cp) {
        int t = Character.toTitleCase(cp);
        if (t != cp) return Character.toString(t);
        return Character.toString(cp).toUpperCase(java.util.Locale.ROOT);
    }

    /** {@code str.capitalize}: first character title-cased, the rest lower-cased. */
    static String capitalize(String s) {
        if (s.isEmpty()) return s;
        int cp = s.codePointAt(0);
        return titleCase(cp) + s.substring(Character.charCount(cp)).toLowerCase(java.util.Locale.ROOT);
    }

    static String upper(String s) {
        return s.toUpperCase(java.util.Locale.ROOT);
    }

    static String lower(String s) {
        return s.toLowerCase(java.util.Locale.ROOT);
    }

    /** Converts Python's code-point index (negative counts from the end) into a UTF-16 offset; clamps like slices. */
    static int offsetOf(String s, int codePointIndex) {
        int length = s.codePointCount(0, s.length());
        int index = codePointIndex < 0 ? Math.max(0, codePointIndex + length) : Math.min(codePointIndex, length);
        return s.offsetByCodePoints(0, index);
    }

    private static int codePointIndex(String s, int offset) {
        return offset < 0 ? -1 : s.codePointCount(0, offset);
    }

    /** Python's {@code %} string formatting for the directives chat templates use: %s %r %d %i %f %%. */
    static String percentFormat(String format, Object args) {
        List<?> values = args instanceof PyTuple t ? t : List.of(args == null ? "None" : args);
        if (args == null) values = java.util.Arrays.asList((Object) null);
        StringBuilder out = new StringBuilder();
        int next = 0;
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%') {
                out.append(c);
                continue;
            }
            if (++i >= format.length()) throw new TemplateException("incomplete format");
            char d = format.charAt(i);
            if (d == '%') {
                out.append('%');
                continue;
            }
            if (next >= values.size()) throw new TemplateException("not enough arguments for format string");
            Object v = values.get(next++);
            switch (d) {
                case 's' -> out.append(PythonValues.str(v));
                case 'r' -> out.append(PythonValues.repr(v));
                case 'd', 'i' -> out.append(PythonValues.isInteger(v) ? PythonValues.toLong(v)
                        : (long) PythonValues.toDouble(v));
                case 'f' -> out.append(String.format(java.util.Locale.ROOT, "%.6f", PythonValues.toDouble(v)));
                default -> throw new TemplateException("unsupported format character '" + d + "' in '%' formatting");
            }
        }
        if (next < values.size()) throw new TemplateException("not all arguments converted during string formatting");
        return out.toString();
    }

    /** {@code str.format} with automatic or explicit positions and names, and no format specs or conversions. */
    static String format(String format, List<Object> args, Map<String, Object> kwargs) {
        StringBuilder out = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c == '{') {
                if (i + 1 < format.length() && format.charAt(i + 1) == '{') {
                    out.append('{');
                    i++;
                    continue;
                }
                int close = format.indexOf('}', i);
                if (close < 0) throw new TemplateException("single '{' encountered in format string");
                String field = format.substring(i + 1, close);
                if (field.contains(":") || field.contains("!") || field.contains(".") || field.contains("[")) {
                    throw new TemplateException("str.format field '{" + field + "}' uses a conversion, format spec or "
                            + "attribute access, which is not supported");
                }
                Object value;
                if (field.isEmpty()) {
                    if (auto >= args.size()) throw new TemplateException("Replacement index " + auto + " out of range");
                    value = args.get(auto++);
                } else if (field.chars().allMatch(Character::isDigit)) {
                    int n = Integer.parseInt(field);
                    if (n >= args.size()) throw new TemplateException("Replacement index " + n + " out of range");
                    value = args.get(n);
                } else {
                    if (!kwargs.containsKey(field)) throw new TemplateException("KeyError: '" + field + "'");
                    value = kwargs.get(field);
                }
                out.append(PythonValues.str(value));
                i = close;
            } else if (c == '}') {
                if (i + 1 < format.length() && format.charAt(i + 1) == '}') {
                    out.append('}');
                    i++;
                    continue;
                }
                throw new TemplateException("single '}' encountered in format string");
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    /** Calls the str method {@code name}, or throws naming it when unsupported. */
    static Object call(String s, String name, List<Object> args, Map<String, Object> kwargs) {
        MethodArgs a = new MethodArgs("str." + name, args, kwargs);
        return switch (name) {
            case "startswith", "endswith" -> {
                Object affix = a.required(0, "prefix");
                int start = offsetOf(s, a.optionalInt(1, "start", 0));
                int end = a.has(2, "end") ? offsetOf(s, a.optionalInt(2, "end", 0)) : s.length();
                String region = start <= end ? s.substring(start, end) : null;
                List<?> options = affix instanceof PyTuple t ? t : List.of(affix);
                boolean result = false;
                for (Object o : options) {
                    if (!(o instanceof String str)) {
                        throw new TemplateException(name + " first arg must be str or a tuple of str, not "
                                + PythonValues.typeName(o));
                    }
                    if (region != null && (name.equals("startswith") ? region.startsWith(str) : region.endsWith(str))) {
                        result = true;
                    }
                }
                a.done(3);
                yield result;
            }
            case "strip", "lstrip", "rstrip" -> {
                String chars = a.optionalString(0, "chars");
                a.done(1);
                yield strip(s, chars, !name.equals("rstrip"), !name.equals("lstrip"));
            }
            case "split", "rsplit" -> {
                String sep = a.optionalString(0, "sep");
                int max = a.optionalInt(1, "maxsplit", -1);
                a.done(2);
                yield name.equals("split") ? split(s, sep, max) : rsplit(s, sep, max);
            }
            case "splitlines" -> {
                boolean keep = PythonValues.isTrue(a.optional(0, "keepends", false));
                a.done(1);
                yield splitLines(s, keep);
            }
            case "replace" -> {
                String old = a.string(0, "old");
                String replacement = a.string(1, "new");
                int count = a.optionalInt(2, "count", -1);
                a.done(3);
                yield replace(s, old, replacement, count);
            }
            case "upper" -> a.none(upper(s));
            case "lower" -> a.none(lower(s));
            case "title" -> a.none(title(s));
            case "capitalize" -> a.none(capitalize(s));
            case "swapcase" -> {
                StringBuilder sb = new StringBuilder();
                s.codePoints().forEach(cp -> sb.append(Character.isUpperCase(cp) ? lower(Character.toString(cp))
                        : Character.isLowerCase(cp) ? upper(Character.toString(cp)) : Character.toString(cp)));
                yield a.none(sb.toString());
            }
            case "find", "rfind", "index", "rindex", "count" -> {
                String sub = a.string(0, "sub");
                int start = offsetOf(s, a.optionalInt(1, "start", 0));
                int end = a.has(2, "end") ? offsetOf(s, a.optionalInt(2, "end", 0)) : s.length();
                a.done(3);
                if (name.equals("count")) {
                    if (start > end) yield 0L;
                    String region = s.substring(start, end);
                    if (sub.isEmpty()) yield (long) region.codePointCount(0, region.length()) + 1;
                    long n = 0;
                    for (int i = region.indexOf(sub); i >= 0; i = region.indexOf(sub, i + sub.length())) n++;
                    yield n;
                }
                int found = -1;
                if (start <= end) {
                    String region = s.substring(start, end);
                    int r = name.startsWith("r") ? region.lastIndexOf(sub) : region.indexOf(sub);
                    if (r >= 0) found = start + r;
                }
                if (found < 0 && name.contains("index")) throw new TemplateException("substring not found");
                yield (long) codePointIndex(s, found);
            }
            case "join" -> {
                Object iterable = a.required(0, "iterable");
                a.done(1);
                StringBuilder sb = new StringBuilder();
                int i = 0;
                for (Object item : PythonValues.iterate(iterable)) {
                    if (!(item instanceof String str)) {
                        throw new TemplateException("sequence item " + i + ": expected str instance, "
                                + PythonValues.typeName(item) + " found");
                    }
                    if (i++ > 0) sb.append(s);
                    sb.append(str);
                }
                yield sb.toString();
            }
            case "format" -> format(s, args, kwargs);
            case "removeprefix" -> {
                String p = a.string(0, "prefix");
                a.done(1);
                yield s.startsWith(p) ? s.substring(p.length()) : s;
            }
            case "removesuffix" -> {
                String p = a.string(0, "suffix");
                a.done(1);
                yield !p.isEmpty() && s.endsWith(p) ? s.substring(0, s.length() - p.length()) : s;
            }
            case "partition", "rpartition" -> {
                String sep = a.string(0, "sep");
                a.done(1);
                if (sep.isEmpty()) throw new TemplateException("empty separator");
                int i = name.equals("partition") ? s.indexOf(sep) : s.lastIndexOf(sep);
                if (i < 0) yield name.equals("partition") ? new PyTuple(s, "", "") : new PyTuple("", "", s);
                yield new PyTuple(s.substring(0, i), sep, s.substring(i + sep.length()));
            }
            case "zfill" -> {
                int width = a.intArg(0, "width");
                a.done(1);
                int len = s.codePointCount(0, s.length());
                if (len >= width) yield s;
                int signLen = !s.isEmpty() && (s.charAt(0) == '+' || s.charAt(0) == '-') ? 1 : 0;
                yield s.substring(0, signLen) + "0".repeat(width - len) + s.substring(signLen);
            }
            case "center", "ljust", "rjust" -> {
                int width = a.intArg(0, "width");
                String fill = a.has(1, "fillchar") ? a.string(1, "fillchar") : " ";
                a.done(2);
                int pad = width - s.codePointCount(0, s.length());
                if (pad <= 0) yield s;
                yield switch (name) {
                    case "ljust" -> s + fill.repeat(pad);
                    case "rjust" -> fill.repeat(pad) + s;
                    default -> {
                        int left = pad / 2 + (pad & width & 1);
                        yield fill.repeat(left) + s + fill.repeat(pad - left);
                    }
                };
            }
            case "isdigit", "isdecimal", "isnumeric" -> a.none(!s.isEmpty() && s.codePoints().allMatch(Character::isDigit));
            case "isalpha" -> a.none(!s.isEmpty() && s.codePoints().allMatch(Character::isLetter));
            case "isalnum" -> a.none(!s.isEmpty() && s.codePoints().allMatch(Character::isLetterOrDigit));
            case "isspace" -> a.none(!s.isEmpty() && s.codePoints().allMatch(PythonStrings::isSpace));
            case "isupper" -> a.none(s.codePoints().anyMatch(PythonStrings::isCased)
                    && s.codePoints().noneMatch(cp -> Character.isLowerCase(cp) || Character.isTitleCase(cp)));
            case "islower" -> a.none(s.codePoints().anyMatch(PythonStrings::isCased)
                    && s.codePoints().noneMatch(cp -> Character.isUpperCase(cp) || Character.isTitleCase(cp)));
            case "istitle" -> a.none(s.codePoints().anyMatch(PythonStrings::isCased) && title(s).equals(s));
            default -> throw new TemplateException("str method '" + name + "' is not supported");
        };
    }

    static String replace(String s, String old, String replacement, int count) {
        if (count < 0) {
            if (old.isEmpty()) {
                StringBuilder sb = new StringBuilder(replacement);
                s.codePoints().forEach(cp -> sb.appendCodePoint(cp).append(replacement));
                return sb.toString();
            }
            return s.replace(old, replacement);
        }
        StringBuilder sb = new StringBuilder();
        int start = 0;
        int done = 0;
        if (old.isEmpty()) {
            List<Object> chars = characters(s);
            for (int i = 0; i <= chars.size(); i++) {
                if (done < count) {
                    sb.append(replacement);
                    done++;
                }
                if (i < chars.size()) sb.append((String) chars.get(i));
            }
            return sb.toString();
        }
        while (done < count) {
            int found = s.indexOf(old, start);
            if (found < 0) break;
            sb.append(s, start, found).append(replacement);
            start = found + old.length();
            done++;
        }
        return sb.append(s.substring(start)).toString();
    }
}
