package ai.parallax.models.tokenizer;

import java.text.Normalizer;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The tokenizer.json {@code normalizer}: rewrites each piece of input text that is not an added token. */
sealed interface TextNormalizer {
    String normalize(String text);

    /** NFC, NFD, NFKC or NFKD. */
    record UnicodeForm(Normalizer.Form form) implements TextNormalizer {
        @Override
        public String normalize(String text) {
            return Normalizer.normalize(text, form);
        }
    }

    /** Prepends a string to non-empty text (SentencePiece's leading "▁"). */
    record Prepend(String prefix) implements TextNormalizer {
        @Override
        public String normalize(String text) {
            return text.isEmpty() ? text : prefix + text;
        }
    }

    /** Replaces every literal occurrence, or every match of a translated Oniguruma regex. */
    record Replace(String literal, Pattern regex, String content) implements TextNormalizer {
        @Override
        public String normalize(String text) {
            return literal != null ? text.replace(literal, content)
                    : regex.matcher(text).replaceAll(Matcher.quoteReplacement(content));
        }
    }

    record Lowercase() implements TextNormalizer {
        @Override
        public String normalize(String text) {
            return text.toLowerCase(Locale.ROOT);
        }
    }

    /** Removes Unicode White_Space from either end, like Rust's {@code trim_start}/{@code trim_end}. */
    record Strip(boolean left, boolean right) implements TextNormalizer {
        @Override
        public String normalize(String text) {
            int start = 0;
            int end = text.length();
            while (left && start < end && isWhiteSpace(text.codePointAt(start))) {
                start += Character.charCount(text.codePointAt(start));
            }
            while (right && end > start && isWhiteSpace(text.codePointBefore(end))) {
                end -= Character.charCount(text.codePointBefore(end));
            }
            return text.substring(start, end);
        }
    }

    record Sequence(List<TextNormalizer> normalizers) implements TextNormalizer {
        @Override
        public String normalize(String text) {
            for (TextNormalizer n : normalizers) {
                text = n.normalize(text);
            }
            return text;
        }
    }

    /** Unicode White_Space, the set Rust's {@code char::is_whitespace} and Oniguruma's {@code \s} use. */
    static boolean isWhiteSpace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || Character.isSpaceChar(cp);
    }
}
