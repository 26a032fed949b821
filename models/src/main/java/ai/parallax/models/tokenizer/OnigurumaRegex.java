package ai.parallax.models.tokenizer;

import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Translates the Oniguruma (Ruby syntax, UTF-8) regular expressions found in tokenizer.json into
 * {@link java.util.regex.Pattern}s that match the same text.
 *
 * <p>The differences that matter for tokenizer patterns: in Oniguruma on UTF-8, {@code \s} is the Unicode
 * White_Space set (Java's {@code \s} is ASCII only), {@code \d} and {@code \w} are Unicode classes, {@code \h} is a
 * hexadecimal digit (Java: horizontal space), script names are written {@code \p{Han}} (Java: {@code \p{IsHan}}),
 * and {@code (?i)} folds case over all of Unicode (Java needs the {@code u} flag too, which also makes {@code 's}
 * match {@code 'ſ}, as Oniguruma's case folding does). Everything else used by tokenizer patterns
 * ({@code \p{L}}, {@code \p{N}}, classes, counted repetition, lookahead) has the same meaning in both.
 */
final class OnigurumaRegex {
    private static final String WHITE_SPACE = "\\p{IsWhite_Space}";
    private static final String WORD = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";

    private OnigurumaRegex() {
    }

    static Pattern compile(String oniguruma) {
        String java = toJava(oniguruma);
        try {
            return Pattern.compile(java);
        } catch (PatternSyntaxException e) {
            throw new UnsupportedTokenizerException("cannot translate regex " + quote(oniguruma)
                    + " from Oniguruma to Java (translated: " + quote(java) + "): " + e.getDescription());
        }
    }

    static String toJava(String re) {
        StringBuilder out = new StringBuilder(re.length() + 32);
        int classDepth = 0;
        for (int i = 0; i < re.length(); i++) {
            char c = re.charAt(i);
            if (c == '\\' && i + 1 < re.length()) {
                char e = re.charAt(++i);
                boolean inClass = classDepth > 0;
                switch (e) {
                    case 's' -> out.append(WHITE_SPACE);
                    case 'S' -> out.append(inClass ? "[^" + WHITE_SPACE + "]" : "\\P{IsWhite_Space}");
                    case 'd' -> out.append("\\p{Nd}");
                    case 'D' -> out.append("\\P{Nd}");
                    case 'w' -> out.append(inClass ? WORD : "[" + WORD + "]");
                    case 'W' -> out.append("[^" + WORD + "]");
                    case 'h' -> out.append(inClass ? "0-9a-fA-F" : "[0-9a-fA-F]");
                    case 'H' -> out.append("[^0-9a-fA-F]");
                    case 'b', 'B' -> throw new UnsupportedTokenizerException("word boundaries (\\" + e
                            + ") in regex " + quote(re) + " are not supported: Java and Oniguruma define words differently");
                    case 'p', 'P' -> {
                        int close = re.indexOf('}', i);
                        if (i + 1 >= re.length() || re.charAt(i + 1) != '{' || close < 0) {
                            throw new UnsupportedTokenizerException("unsupported property escape in regex " + quote(re));
                        }
                        String name = re.substring(i + 2, close);
                        boolean negated = name.startsWith("^");
                        if (negated) {
                            name = name.substring(1);
                        }
                        char kind = (e == 'P') != negated ? 'P' : 'p';
                        out.append('\\').append(kind).append('{').append(javaPropertyName(name, re)).append('}');
                        i = close;
                    }
                    default -> out.append('\\').append(e);
                }
            } else if (c == '[') {
                if (classDepth > 0 && re.startsWith("[:", i)) {
                    // Java would read a POSIX bracket such as [:alpha:] as a nested class of its characters.
                    throw new UnsupportedTokenizerException("POSIX bracket expressions in regex " + quote(re)
                            + " are not supported");
                }
                classDepth++;
                out.append(c);
                // A ']' right after '[' or '[^' is a literal in both dialects; copy it so it does not close the class.
                if (i + 1 < re.length() && re.charAt(i + 1) == '^') {
                    out.append('^');
                    i++;
                }
            } else if (c == ']' && classDepth > 0) {
                classDepth--;
                out.append(c);
            } else if (c == '(' && classDepth == 0 && re.startsWith("(?", i)) {
                // Inline flags: make every case-insensitive group fold case over Unicode, as Oniguruma does.
                int j = i + 2;
                StringBuilder flags = new StringBuilder();
                while (j < re.length() && Character.isLetter(re.charAt(j))) {
                    flags.append(re.charAt(j++));
                }
                if (flags.indexOf("i") >= 0 && flags.indexOf("u") < 0) {
                    flags.append('u');
                }
                out.append("(?").append(flags);
                i = j - 1;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    private static String javaPropertyName(String name, String re) {
        if (name.matches("[A-Z][a-z&]?|L&")) {
            return name.equals("L&") ? "LC" : name; // general category, same name in Java
        }
        try {
            Character.UnicodeScript.forName(name);
            return "Is" + name;
        } catch (IllegalArgumentException notAScript) {
            throw new UnsupportedTokenizerException("unsupported Unicode property \\p{" + name + "} in regex " + quote(re));
        }
    }

    private static String quote(String s) {
        return "'" + s + "'";
    }
}
