package ai.parallax.models.tokenizer;

import java.util.List;
import java.util.SplittableRandom;

/**
 * Random text that stresses tokenizers: many scripts, combining marks (NFC), code, whitespace runs with CRLF and
 * Unicode spaces, long numbers, punctuation runs, contractions in mixed case (and with the long s, which folds to
 * s), emoji sequences, and special-token markers whole, partial and nested. Fixed seeds make failures repeatable.
 *
 * <p>Random code points are drawn only from blocks that have been stable for many Unicode versions, because the
 * reference (Oniguruma in HF tokenizers) and the JDK may know different Unicode versions.
 */
final class RandomText {
    private static final String[] SNIPPETS = {
        "def f(x):\n    return x ** 2\n",
        "for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}\n",
        "if (a && b || !c) { printf(\"%d\\n\", x); }",
        "const y = arr.map((v) => v * 2).filter(Boolean);",
        "SELECT id, name FROM users WHERE age >= 18;",
        "<div class=\"x\">Hello &amp; bye</div>",
        "#include <stdio.h>\r\nint main(void) { return 0; }\r\n",
        "x=1;y=2;z=x+y//comment",
        "    indented\n        more\n\t\ttabs  \n",
        "{\"key\": [1, 2.5, -3e10, null, true]}",
    };
    private static final String[] SPECIAL = {
        "<|im_start|>", "<|im_end|>", "<|eot_id|>", "<|begin_of_text|>", "<|end_of_text|>", "<|endoftext|>",
        "<s>", "</s>", "<unk>", "<think>", "</think>", "<tool_call>", "<|start_header_id|>", "<|end_header_id|>",
        "<|im_", "<|eot_id", "<<|im_end|>>", "<|im_start|><|im_start|>", "< s>", "<|reserved_special_token_3|>",
    };
    private static final String[] EMOJI = {
        "😀", "👍", "👍🏽", "👨‍👩‍👧‍👦", "🇺🇸", "🇯🇵", "🇩🇪", "1️⃣", "❤️", "🏳️‍🌈", "🧑🏿‍💻", "✨", "🤖", "👩🏻‍🔬",
    };
    private static final String[] CONTRACTIONS = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    private static final String[] WORDS = {
        "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "Hello", "world", "tokenizer", "ID",
        "naïve", "café", "Straße", "don", "won", "I", "A", "x", "HTTPServer", "camelCase", "snake_case",
    };
    /** Code point ranges of long-stable scripts: Latin-1/Extended, Greek, Cyrillic, Arabic, Devanagari, Thai, ... */
    private static final int[][] SCRIPTS = {
        {0x00C0, 0x017F}, {0x0391, 0x03C9}, {0x0410, 0x044F}, {0x0621, 0x064A}, {0x0905, 0x0939},
        {0x0E01, 0x0E3A}, {0x4E00, 0x9FA5}, {0x3041, 0x3096}, {0x30A1, 0x30FA}, {0xAC00, 0xD7A3}, {0x05D0, 0x05EA},
        {0x0531, 0x0556}, {0x10A0, 0x10C5},
    };
    private static final int[][] COMBINING = {{0x0300, 0x036F}, {0x064B, 0x0652}, {0x093E, 0x094D}, {0x0E31, 0x0E3A}};
    private static final String[] SPACES = {" ", "  ", "\t", "\n", "\r\n", "\n\n", " \n", "\u00A0", "\u3000", "\u2003",
        "\u000B", "\u0085", "   \t "};

    private final SplittableRandom random;

    RandomText(long seed) {
        random = new SplittableRandom(seed);
    }

    /** A string of 1 to 8 random fragments. */
    String next() {
        StringBuilder sb = new StringBuilder();
        int fragments = 1 + random.nextInt(8);
        for (int i = 0; i < fragments; i++) {
            appendFragment(sb);
            if (random.nextInt(3) == 0) {
                sb.append(pick(SPACES));
            } else if (random.nextBoolean()) {
                sb.append(' ');
            }
        }
        if (random.nextInt(5) == 0) {
            sb.append(pick(SPACES)); // trailing whitespace
        }
        return sb.toString();
    }

    List<String> strings(int count) {
        return java.util.stream.IntStream.range(0, count).mapToObj(i -> next()).toList();
    }

    private void appendFragment(StringBuilder sb) {
        switch (random.nextInt(12)) {
            case 0 -> sb.append(pick(SNIPPETS));
            case 1 -> sb.append(pick(SPECIAL));
            case 2 -> {
                for (int i = random.nextInt(1, 4); i > 0; i--) {
                    sb.append(pick(EMOJI));
                }
            }
            case 3 -> {
                sb.append(pick(WORDS));
                String c = pick(CONTRACTIONS);
                sb.append(random.nextBoolean() ? c.toUpperCase(java.util.Locale.ROOT) : c);
                if (random.nextInt(6) == 0) {
                    // U+017F folds to 's' under Unicode case folding, so "'ſt" splits as "'ſ" + "t".
                    sb.append(random.nextBoolean() ? "'ſt" : "'ſ");
                }
            }
            case 4 -> {
                int digits = random.nextInt(1, 25);
                for (int i = 0; i < digits; i++) {
                    sb.append((char) ('0' + random.nextInt(10)));
                }
                if (random.nextBoolean()) {
                    sb.append('.').append(random.nextInt(1000));
                }
            }
            case 5 -> {
                String punct = "!?.,;:-—–…\"'()[]{}<>«»“”‘’/\\|@#$%^&*_+=~`";
                for (int i = random.nextInt(1, 7); i > 0; i--) {
                    sb.append(punct.charAt(random.nextInt(punct.length())));
                }
            }
            case 6 -> sb.append(pick(SPACES)).append(pick(SPACES));
            case 7 -> {
                int[] range = SCRIPTS[random.nextInt(SCRIPTS.length)];
                for (int i = random.nextInt(1, 10); i > 0; i--) {
                    sb.appendCodePoint(random.nextInt(range[0], range[1] + 1));
                    if (random.nextInt(4) == 0) {
                        int[] marks = COMBINING[random.nextInt(COMBINING.length)];
                        sb.appendCodePoint(random.nextInt(marks[0], marks[1] + 1));
                    }
                }
            }
            case 8 -> {
                // Decomposed accents that NFC recomposes, and some that have no precomposed form.
                sb.append(pick(new String[] {"e\u0301", "A\u030A", "n\u0303o", "q\u0307\u0323", "\u1E9B\u0323", "Å"}));
            }
            case 9 -> {
                for (int i = random.nextInt(1, 8); i > 0; i--) {
                    int cp = random.nextInt(0x20, 0x800);
                    if (Character.isDefined(cp)) {
                        sb.appendCodePoint(cp);
                    }
                }
            }
            default -> sb.append(pick(WORDS));
        }
    }

    private String pick(String[] options) {
        return options[random.nextInt(options.length)];
    }

    int nextInt(int bound) {
        return random.nextInt(bound);
    }
}
