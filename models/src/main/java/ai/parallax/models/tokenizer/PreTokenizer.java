package ai.parallax.models.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The tokenizer.json {@code pre_tokenizer}: splits normalized text into the words the model encodes one by one. */
sealed interface PreTokenizer {
    /** Appends the pieces of {@code text} to {@code out}; empty pieces are dropped, as tokenizers drops them. */
    void split(String text, List<String> out);

    /** How a {@link Split} keeps the matched delimiters (tokenizers' {@code SplitDelimiterBehavior}). */
    enum Behavior { REMOVED, ISOLATED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS }

    record Split(Pattern pattern, Behavior behavior, boolean invert) implements PreTokenizer {
        @Override
        public void split(String text, List<String> out) {
            // Mark the text as alternating (start, end, isMatch) spans, then group them by behavior.
            List<int[]> spans = new ArrayList<>();
            Matcher m = pattern.matcher(text);
            int last = 0;
            while (m.find()) {
                if (m.end() == m.start()) {
                    continue; // tokenizers ignores empty matches
                }
                if (m.start() > last) {
                    spans.add(new int[] {last, m.start(), invert ? 1 : 0});
                }
                spans.add(new int[] {m.start(), m.end(), invert ? 0 : 1});
                last = m.end();
            }
            if (last < text.length()) {
                spans.add(new int[] {last, text.length(), invert ? 1 : 0});
            }
            switch (behavior) {
                case ISOLATED -> spans.forEach(s -> add(text, s[0], s[1], out));
                case REMOVED -> spans.stream().filter(s -> s[2] == 0).forEach(s -> add(text, s[0], s[1], out));
                case MERGED_WITH_PREVIOUS -> {
                    int start = -1;
                    for (int[] s : spans) {
                        if (start < 0) {
                            start = s[0];
                        }
                        if (s[2] == 1) {
                            add(text, start, s[1], out);
                            start = -1;
                        }
                    }
                    if (start >= 0) {
                        add(text, start, text.length(), out);
                    }
                }
                case MERGED_WITH_NEXT -> {
                    int start = -1;
                    for (int[] s : spans) {
                        if (s[2] == 1 && start >= 0) {
                            add(text, start, s[0], out);
                            start = -1;
                        }
                        if (start < 0) {
                            start = s[0];
                        }
                    }
                    if (start >= 0) {
                        add(text, start, text.length(), out);
                    }
                }
                case CONTIGUOUS -> {
                    int start = -1;
                    int kind = -1;
                    for (int[] s : spans) {
                        if (s[2] != kind || s[2] == 0) {
                            if (start >= 0) {
                                add(text, start, s[0], out);
                            }
                            start = s[0];
                            kind = s[2];
                        }
                    }
                    if (start >= 0) {
                        add(text, start, text.length(), out);
                    }
                }
            }
        }
    }

    /**
     * Byte-level: optionally prefixes a space, optionally splits with GPT-2's pattern, then spells every UTF-8 byte
     * with {@link ByteLevelAlphabet} so the model sees one character per byte.
     */
    record ByteLevel(boolean addPrefixSpace, boolean useRegex) implements PreTokenizer {
        private static final Pattern GPT2 = OnigurumaRegex.compile(
                "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

        @Override
        public void split(String text, List<String> out) {
            if (addPrefixSpace && !text.startsWith(" ")) {
                text = " " + text;
            }
            if (!useRegex) {
                add(ByteLevelAlphabet.encode(text), out);
                return;
            }
            Matcher m = GPT2.matcher(text);
            int last = 0;
            while (m.find()) {
                if (m.start() > last) {
                    add(ByteLevelAlphabet.encode(text.substring(last, m.start())), out);
                }
                add(ByteLevelAlphabet.encode(m.group()), out);
                last = m.end();
            }
            if (last < text.length()) {
                add(ByteLevelAlphabet.encode(text.substring(last)), out);
            }
        }
    }

    record Sequence(List<PreTokenizer> steps) implements PreTokenizer {
        @Override
        public void split(String text, List<String> out) {
            List<String> pieces = new ArrayList<>();
            pieces.add(text);
            for (PreTokenizer step : steps) {
                List<String> next = new ArrayList<>(pieces.size() * 2);
                for (String piece : pieces) {
                    step.split(piece, next);
                }
                pieces = next;
            }
            out.addAll(pieces);
        }
    }

    private static void add(String text, int start, int end, List<String> out) {
        if (end > start) {
            out.add(text.substring(start, end));
        }
    }

    private static void add(String piece, List<String> out) {
        if (!piece.isEmpty()) {
            out.add(piece);
        }
    }
}
