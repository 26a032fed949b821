package ai.parallax.models.chat;

import ai.parallax.models.chat.JinjaToken.Kind;
import java.util.ArrayList;
import java.util.List;

/**
 * Splits a template into text and tag tokens the way Jinja2's lexer does, with transformers' settings
 * {@code trim_blocks=True} and {@code lstrip_blocks=True}.
 *
 * <ul>
 *   <li>{@code {%-}, {@code {{-}, {@code {#-} strip all whitespace before the tag; {@code -%}}, {@code -}}}},
 *       {@code -#}} strip all whitespace after it (Python's {@code \s}, so Unicode spaces too).</li>
 *   <li>lstrip_blocks: whitespace between the start of a line and a {@code {%} or {@code {#} tag is removed, unless
 *       the tag opens with {@code {%+}. It never applies to {@code {{}.</li>
 *   <li>trim_blocks: the first {@code \n} right after {@code %}} or {@code #}} is removed; never after
 *       {@code }}}}.</li>
 * </ul>
 */
final class JinjaLexer {
    private final SourceText source;
    private final String text;
    private final List<JinjaToken> tokens = new ArrayList<>();
    private int pos;
    /** Jinja's {@code line_starting}: the last consumed piece of source ended with a newline (or nothing was consumed). */
    private boolean lineStarting = true;

    private JinjaLexer(SourceText source) {
        this.source = source;
        this.text = source.text;
    }

    static List<JinjaToken> tokenize(SourceText source) {
        JinjaLexer lexer = new JinjaLexer(source);
        lexer.run();
        return lexer.tokens;
    }

    private void run() {
        while (pos < text.length()) {
            int tag = nextTagStart(pos);
            if (tag < 0) {
                emitText(text.substring(pos), pos);
                pos = text.length();
                break;
            }
            char kind = text.charAt(tag + 1);
            char sign = tag + 2 < text.length() ? text.charAt(tag + 2) : 0;
            String data = text.substring(pos, tag);
            int rawEnd = kind == '%' ? matchRawBegin(tag) : -1;
            if (sign == '-') {
                data = PythonStrings.rstripWhitespace(data);
            } else if (sign != '+' && kind != '{') {
                data = lstripBlock(data);
            }
            emitText(data, pos);
            if (kind == '#') {
                lexComment(tag);
            } else if (rawEnd >= 0) {
                lexRaw(tag, rawEnd);
            } else {
                lexTag(tag, kind == '{');
            }
        }
        tokens.add(new JinjaToken(Kind.EOF, "", null, text.length()));
    }

    private int nextTagStart(int from) {
        int i = from;
        while (true) {
            int brace = text.indexOf('{', i);
            if (brace < 0 || brace + 1 >= text.length()) return -1;
            char next = text.charAt(brace + 1);
            if (next == '{' || next == '%' || next == '#') return brace;
            i = brace + 1;
        }
    }

    /** lstrip_blocks: drop spaces between the last line start and the tag, when only whitespace is there. */
    private String lstripBlock(String data) {
        int lineStart = data.lastIndexOf('\n') + 1;
        if (lineStart == 0 && !lineStarting) return data;
        if (lineStart == data.length()) return data;
        for (int i = lineStart; i < data.length(); i++) {
            if (!PythonStrings.isSpace(data.charAt(i))) return data;
        }
        return data.substring(0, lineStart);
    }

    private void emitText(String data, int offset) {
        if (!data.isEmpty()) tokens.add(new JinjaToken(Kind.TEXT, data, data, offset));
    }

    private void lexComment(int tag) {
        int end = text.indexOf("#}", tag + 2);
        if (end < 0) throw source.error(tag, "missing end of comment tag");
        int after = end + 2;
        if (text.charAt(end - 1) == '-' && end - 1 > tag + 1) {
            after = skipWhitespace(after);
        } else if (after < text.length() && text.charAt(after) == '\n') {
            after++;
        }
        consumedUpTo(after);
    }

    private void consumedUpTo(int after) {
        lineStarting = after > 0 && text.charAt(after - 1) == '\n';
        pos = after;
    }

    private int skipWhitespace(int from) {
        int i = from;
        while (i < text.length() && PythonStrings.isSpace(text.charAt(i))) i++;
        return i;
    }

    /** If a {@code {% raw %}} tag starts at {@code tag}, the offset just after it; otherwise -1. */
    private int matchRawBegin(int tag) {
        int i = tag + 2;
        if (i < text.length() && (text.charAt(i) == '-' || text.charAt(i) == '+')) i++;
        i = skipWhitespace(i);
        if (!text.startsWith("raw", i)) return -1;
        i = skipWhitespace(i + 3);
        if (text.startsWith("-%}", i)) return skipWhitespace(i + 3);
        if (text.startsWith("%}", i)) return i + 2;
        return -1;
    }

    private void lexRaw(int tag, int bodyStart) {
        int search = bodyStart;
        while (true) {
            int end = text.indexOf("{%", search);
            if (end < 0) throw source.error(tag, "missing end of raw directive");
            int i = end + 2;
            char sign = i < text.length() ? text.charAt(i) : 0;
            if (sign == '-' || sign == '+') i++;
            i = skipWhitespace(i);
            if (text.startsWith("endraw", i)) {
                i = skipWhitespace(i + 6);
                int after;
                if (text.startsWith("-%}", i)) {
                    after = skipWhitespace(i + 3);
                } else if (text.startsWith("%}", i)) {
                    after = i + 2;
                    if (after < text.length() && text.charAt(after) == '\n') after++;
                } else {
                    throw source.error(end, "malformed endraw tag");
                }
                String body = text.substring(bodyStart, end);
                if (sign == '-') body = PythonStrings.rstripWhitespace(body);
                else if (sign != '+') body = lstripRawEnd(body, bodyStart);
                emitText(body, bodyStart);
                consumedUpTo(after);
                return;
            }
            search = end + 2;
        }
    }

    private String lstripRawEnd(String body, int bodyStart) {
        boolean saved = lineStarting;
        lineStarting = bodyStart > 0 && text.charAt(bodyStart - 1) == '\n';
        String stripped = lstripBlock(body);
        lineStarting = saved;
        return stripped;
    }

    private void lexTag(int tag, boolean variable) {
        boolean hasSign = tag + 2 < text.length() && (text.charAt(tag + 2) == '-' || text.charAt(tag + 2) == '+');
        tokens.add(new JinjaToken(variable ? Kind.VARIABLE_BEGIN : Kind.BLOCK_BEGIN, variable ? "{{" : "{%", null, tag));
        int i = tag + 2 + (hasSign ? 1 : 0);
        String close = variable ? "}}" : "%}";
        int depth = 0;
        while (true) {
            i = skipWhitespace(i);
            if (i >= text.length()) {
                throw source.error(tag, "unexpected end of template, expected '" + close + "' to close the "
                        + (variable ? "print statement" : "block tag") + " opened here");
            }
            if (depth == 0) {
                if (text.startsWith("-" + close, i)) {
                    tokens.add(new JinjaToken(variable ? Kind.VARIABLE_END : Kind.BLOCK_END, close, null, i));
                    consumedUpTo(skipWhitespace(i + 3));
                    return;
                }
                if (text.startsWith(close, i)) {
                    tokens.add(new JinjaToken(variable ? Kind.VARIABLE_END : Kind.BLOCK_END, close, null, i));
                    int after = i + 2;
                    if (!variable && after < text.length() && text.charAt(after) == '\n') after++;
                    consumedUpTo(after);
                    return;
                }
            }
            char c = text.charAt(i);
            if (c == '\'' || c == '"') {
                i = lexString(i, c);
            } else if (isDigit(c)) {
                i = lexNumber(i);
            } else if (Character.isLetter(c) || c == '_') {
                int start = i;
                while (i < text.length() && (Character.isLetterOrDigit(text.charAt(i)) || text.charAt(i) == '_')) i++;
                String name = text.substring(start, i);
                tokens.add(new JinjaToken(Kind.NAME, name, name, start));
            } else {
                String op = operatorAt(i);
                if (op == null) throw source.error(i, "unexpected character '" + c + "' inside a tag");
                switch (op) {
                    case "(", "[", "{" -> depth++;
                    case ")", "]", "}" -> {
                        if (depth == 0) throw source.error(i, "unexpected '" + op + "'");
                        depth--;
                    }
                    default -> { }
                }
                tokens.add(new JinjaToken(Kind.OPERATOR, op, op, i));
                i += op.length();
            }
        }
    }

    private static final String[] OPERATORS = {
        "//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ".", ":",
        ",", "|", "=", "<", ">", ";"
    };

    private String operatorAt(int i) {
        for (String op : OPERATORS) {
            if (text.startsWith(op, i)) return op;
        }
        return null;
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    /** Integers and floats as Jinja reads them: digits with optional underscores, a fraction and/or an exponent. */
    private int lexNumber(int start) {
        int i = digits(start);
        boolean isFloat = false;
        if (i + 1 < text.length() && text.charAt(i) == '.' && isDigit(text.charAt(i + 1))) {
            i = digits(i + 1);
            isFloat = true;
        }
        if (i < text.length() && (text.charAt(i) == 'e' || text.charAt(i) == 'E')) {
            int j = i + 1;
            if (j < text.length() && (text.charAt(j) == '+' || text.charAt(j) == '-')) j++;
            if (j < text.length() && isDigit(text.charAt(j))) {
                i = digits(j);
                isFloat = true;
            }
        }
        String literal = text.substring(start, i);
        String clean = literal.replace("_", "");
        if (isFloat) {
            tokens.add(new JinjaToken(Kind.FLOAT, literal, Double.parseDouble(clean), start));
        } else {
            Object value;
            try {
                value = Long.parseLong(clean);
            } catch (NumberFormatException e) {
                value = new java.math.BigInteger(clean);
            }
            tokens.add(new JinjaToken(Kind.INTEGER, literal, value, start));
        }
        return i;
    }

    private int digits(int from) {
        int i = from;
        while (i < text.length() && (isDigit(text.charAt(i)) || (text.charAt(i) == '_' && i + 1 < text.length()
                && isDigit(text.charAt(i + 1)) && i > from))) {
            i++;
        }
        return i;
    }

    private int lexString(int start, char quote) {
        int i = start + 1;
        while (i < text.length() && text.charAt(i) != quote) {
            if (text.charAt(i) == '\\') i++;
            i++;
        }
        if (i >= text.length()) throw source.error(start, "unterminated string literal");
        String body = text.substring(start + 1, i);
        tokens.add(new JinjaToken(Kind.STRING, text.substring(start, i + 1), unescape(body, start), start));
        return i + 1;
    }

    /** Python's {@code unicode-escape} decoding, which Jinja applies to string literals. */
    private String unescape(String body, int offset) {
        if (body.indexOf('\\') < 0) return body;
        StringBuilder out = new StringBuilder(body.length());
        for (int i = 0; i < body.length(); i++) {
            char c = body.charAt(i);
            if (c != '\\' || i + 1 >= body.length()) {
                out.append(c);
                continue;
            }
            char e = body.charAt(++i);
            switch (e) {
                case '\n' -> { }
                case '\\' -> out.append('\\');
                case '\'' -> out.append('\'');
                case '"' -> out.append('"');
                case 'a' -> out.append('\u0007');
                case 'b' -> out.append('\b');
                case 'f' -> out.append('\f');
                case 'n' -> out.append('\n');
                case 'r' -> out.append('\r');
                case 't' -> out.append('\t');
                case 'v' -> out.append('\u000b');
                case 'x', 'u', 'U' -> {
                    int len = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    if (i + len > body.length() - 1) {
                        throw source.error(offset, "truncated \\" + e + " escape in string literal");
                    }
                    String hex = body.substring(i + 1, i + 1 + len);
                    int cp;
                    try {
                        cp = Integer.parseInt(hex, 16);
                    } catch (NumberFormatException ex) {
                        throw source.error(offset, "malformed \\" + e + " escape in string literal");
                    }
                    out.appendCodePoint(cp);
                    i += len;
                }
                default -> {
                    if (e >= '0' && e <= '7') {
                        int value = e - '0';
                        int n = 1;
                        while (n < 3 && i + 1 < body.length() && body.charAt(i + 1) >= '0' && body.charAt(i + 1) <= '7') {
                            value = value * 8 + (body.charAt(++i) - '0');
                            n++;
                        }
                        out.appendCodePoint(value);
                    } else if (e == 'N') {
                        throw source.error(offset, "\\N{...} escapes in string literals are not supported");
                    } else {
                        out.append('\\').append(e);
                    }
                }
            }
        }
        return out.toString();
    }
}
