package ai.parallax.models.tokenizer;

/**
 * An incremental UTF-8 decoder that replaces each maximal invalid subsequence with one U+FFFD (Unicode 16, section
 * 3.9, "substitution of maximal subparts"), which is what Rust's {@code String::from_utf8_lossy} does. Fed one byte
 * at a time, it emits a character only once all its bytes have arrived.
 */
final class Utf8Stream {
    private int needed;
    private int codePoint;
    private int lower = 0x80;
    private int upper = 0xBF;

    void accept(byte value, StringBuilder out) {
        int b = value & 0xFF;
        if (needed > 0) {
            if (b >= lower && b <= upper) {
                codePoint = (codePoint << 6) | (b & 0x3F);
                lower = 0x80;
                upper = 0xBF;
                if (--needed == 0) {
                    out.appendCodePoint(codePoint);
                }
                return;
            }
            // The sequence so far is a maximal invalid subpart; the byte that broke it starts afresh.
            out.append('\uFFFD');
            needed = 0;
            lower = 0x80;
            upper = 0xBF;
        }
        if (b < 0x80) {
            out.append((char) b);
        } else if (b >= 0xC2 && b <= 0xDF) {
            needed = 1;
            codePoint = b & 0x1F;
        } else if (b >= 0xE0 && b <= 0xEF) {
            needed = 2;
            codePoint = b & 0x0F;
            lower = b == 0xE0 ? 0xA0 : 0x80;
            upper = b == 0xED ? 0x9F : 0xBF;
        } else if (b >= 0xF0 && b <= 0xF4) {
            needed = 3;
            codePoint = b & 0x07;
            lower = b == 0xF0 ? 0x90 : 0x80;
            upper = b == 0xF4 ? 0x8F : 0xBF;
        } else {
            out.append('\uFFFD');
        }
    }

    /** Ends the input: an unfinished character becomes one U+FFFD. */
    void finish(StringBuilder out) {
        if (needed > 0) {
            out.append('\uFFFD');
            needed = 0;
            lower = 0x80;
            upper = 0xBF;
        }
    }
}
