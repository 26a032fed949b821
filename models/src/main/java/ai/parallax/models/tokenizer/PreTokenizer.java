package ai.parallax.models.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The tokenizer.json {@code pre_tokenizer}: splits normalized text into the words the model encodes one by one. */
sealed interface PreTokenizer {
    /** Receives the pieces; {@code atStart} says whether a piece begins the whole input text. */
    @FunctionalInterface
    interface Sink {
        void accept(String piece, boolean atStart);
    }

    /**
     * Passes the non-empty pieces of {@code text} to {@code out} (tokenizers drops empty ones).
     *
     * @param atStart whether {@code text} begins the whole input
     */
    void split(String text, boolean atStart, Sink out);

    /** How a {@link Split} keeps the matched delimiters (tokenizers' {@code SplitDelimiterBehavior}). */
    enum Behavior { REMOVED, ISOLATED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS }

    record Split(Pattern pattern, Behavior behavior, boolean invert) implements PreTokenizer {
        @Override
        public void split(String text, boolean atStart, Sink out) {
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
            groupSpans(text, spans, behavior, atStart, out);
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
        public void split(String text, boolean atStart, Sink out) {
            if (addPrefixSpace && !text.startsWith(" ")) {
                text = " " + text;
            }
            if (!useRegex) {
                add(ByteLevelAlphabet.encode(text), atStart, out);
                return;
            }
            Matcher m = GPT2.matcher(text);
            int last = 0;
            while (m.find()) {
                if (m.start() > last) {
                    add(ByteLevelAlphabet.encode(text.substring(last, m.start())), atStart && last == 0, out);
                }
                add(ByteLevelAlphabet.encode(m.group()), atStart && m.start() == 0, out);
                last = m.end();
            }
            if (last < text.length()) {
                add(ByteLevelAlphabet.encode(text.substring(last)), atStart && last == 0, out);
            }
        }
    }

    /**
     * SentencePiece's metaspace: spaces become the replacement character ("▁"), one is prepended (always, only to
     * the start of the input, or never), and with {@code split} every "▁" starts a new piece.
     */
    record Metaspace(char replacement, PrependScheme prependScheme, boolean splitOnReplacement)
            implements PreTokenizer {
        enum PrependScheme { ALWAYS, FIRST, NEVER }

        @Override
        public void split(String text, boolean atStart, Sink out) {
            text = text.replace(' ', replacement);
            boolean prepend = switch (prependScheme) {
                case ALWAYS -> true;
                case FIRST -> atStart;
                case NEVER -> false;
            };
            if (prepend && (text.isEmpty() || text.charAt(0) != replacement)) {
                text = replacement + text;
            }
            if (!splitOnReplacement) {
                add(text, atStart, out);
                return;
            }
            List<int[]> spans = new ArrayList<>();
            int last = 0;
            for (int i = text.indexOf(replacement); i >= 0; i = text.indexOf(replacement, i + 1)) {
                if (i > last) {
                    spans.add(new int[] {last, i, 0});
                }
                spans.add(new int[] {i, i + 1, 1});
                last = i + 1;
            }
            if (last < text.length()) {
                spans.add(new int[] {last, text.length(), 0});
            }
            groupSpans(text, spans, Behavior.MERGED_WITH_NEXT, atStart, out);
        }
    }

    record Sequence(List<PreTokenizer> steps) implements PreTokenizer {
        @Override
        public void split(String text, boolean atStart, Sink out) {
            List<String> pieces = new ArrayList<>();
            List<Boolean> starts = new ArrayList<>();
            pieces.add(text);
            starts.add(atStart);
            for (PreTokenizer step : steps) {
                List<String> nextPieces = new ArrayList<>(pieces.size() * 2);
                List<Boolean> nextStarts = new ArrayList<>(pieces.size() * 2);
                for (int i = 0; i < pieces.size(); i++) {
                    step.split(pieces.get(i), starts.get(i), (piece, start) -> {
                        nextPieces.add(piece);
                        nextStarts.add(start);
                    });
                }
                pieces = nextPieces;
                starts = nextStarts;
            }
            for (int i = 0; i < pieces.size(); i++) {
                out.accept(pieces.get(i), starts.get(i));
            }
        }
    }

    /** Groups (start, end, isMatch) spans into pieces the way tokenizers' {@code NormalizedString::split} does. */
    private static void groupSpans(String text, List<int[]> spans, Behavior behavior, boolean atStart, Sink out) {
        switch (behavior) {
            case ISOLATED -> spans.forEach(s -> add(text, s[0], s[1], atStart, out));
            case REMOVED -> spans.stream().filter(s -> s[2] == 0).forEach(s -> add(text, s[0], s[1], atStart, out));
            case MERGED_WITH_PREVIOUS -> {
                int start = -1;
                for (int[] s : spans) {
                    if (start < 0) {
                        start = s[0];
                    }
                    if (s[2] == 1) {
                        add(text, start, s[1], atStart, out);
                        start = -1;
                    }
                }
                if (start >= 0) {
                    add(text, start, text.length(), atStart, out);
                }
            }
            case MERGED_WITH_NEXT -> {
                int start = -1;
                for (int[] s : spans) {
                    if (s[2] == 1 && start >= 0) {
                        add(text, start, s[0], atStart, out);
                        start = -1;
                    }
                    if (start < 0) {
                        start = s[0];
                    }
                }
                if (start >= 0) {
                    add(text, start, text.length(), atStart, out);
                }
            }
            case CONTIGUOUS -> {
                int start = -1;
                int kind = -1;
                for (int[] s : spans) {
                    if (s[2] != kind) {
                        if (start >= 0) {
                            add(text, start, s[0], atStart, out);
                        }
                        start = s[0];
                        kind = s[2];
                    }
                }
                if (start >= 0) {
                    add(text, start, text.length(), atStart, out);
                }
            }
        }
    }

    private static void add(String text, int start, int end, boolean atStart, Sink out) {
        if (end > start) {
            out.accept(text.substring(start, end), atStart && start == 0);
        }
    }

    private static void add(String piece, boolean atStart, Sink out) {
        if (!piece.isEmpty()) {
            out.accept(piece, atStart);
        }
    }
}
