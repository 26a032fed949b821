package ai.parallax.models.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Finds added tokens in text, as tokenizers' {@code AddedVocabulary::find_matches} does with its leftmost-longest
 * Aho-Corasick automaton: scanning left to right, the longest token starting at the earliest position wins, and
 * scanning resumes after it (also after a match that {@code single_word} then rejects).
 */
final class AddedTokenSplitter {
    /** A piece of input starting at {@code start}: either plain text ({@code tokenId < 0}) or one added token. */
    record Piece(String text, int tokenId, int start) {
    }

    /** Candidate tokens by first character, longest first. */
    private final Map<Character, List<Entry>> byFirstChar = new HashMap<>();

    private record Entry(String pattern, AddedToken token) {
    }

    /**
     * @param tokens the tokens to find
     * @param patternOf the text each token is matched as (its content, or its normalized content)
     */
    AddedTokenSplitter(List<AddedToken> tokens, java.util.function.Function<AddedToken, String> patternOf) {
        for (AddedToken t : tokens) {
            String pattern = patternOf.apply(t);
            if (!pattern.isEmpty()) {
                byFirstChar.computeIfAbsent(pattern.charAt(0), k -> new ArrayList<>()).add(new Entry(pattern, t));
            }
        }
        byFirstChar.values().forEach(l -> l.sort((a, b) -> b.pattern.length() - a.pattern.length()));
    }

    boolean isEmpty() {
        return byFirstChar.isEmpty();
    }

    /** Splits {@code text} into plain pieces and tokens, appending them to {@code out}; empty pieces are dropped. */
    void split(String text, List<Piece> out) {
        if (byFirstChar.isEmpty()) {
            out.add(new Piece(text, -1, 0));
            return;
        }
        int plainStart = 0;
        int i = 0;
        while (i < text.length()) {
            List<Entry> candidates = byFirstChar.get(text.charAt(i));
            Entry match = null;
            if (candidates != null) {
                for (Entry e : candidates) {
                    if (text.startsWith(e.pattern, i)) {
                        match = e;
                        break;
                    }
                }
            }
            if (match == null) {
                i++;
                continue;
            }
            int start = i;
            int stop = i + match.pattern.length();
            i = stop;
            AddedToken token = match.token;
            if (token.singleWord()) {
                boolean wordBefore = start > 0 && isWordChar(text.codePointBefore(start));
                boolean wordAfter = stop < text.length() && isWordChar(text.codePointAt(stop));
                if (wordBefore || wordAfter) {
                    continue;
                }
            }
            if (token.lstrip()) {
                int s = start;
                while (s > 0 && TextNormalizer.isWhiteSpace(text.codePointBefore(s))) {
                    s -= Character.charCount(text.codePointBefore(s));
                }
                start = Math.max(s, plainStart); // an earlier token may already own those spaces
            }
            if (token.rstrip()) {
                while (stop < text.length() && TextNormalizer.isWhiteSpace(text.codePointAt(stop))) {
                    stop += Character.charCount(text.codePointAt(stop));
                }
                i = stop;
            }
            if (plainStart < start) {
                out.add(new Piece(text.substring(plainStart, start), -1, plainStart));
            }
            out.add(new Piece(null, token.id(), start));
            plainStart = stop;
        }
        if (plainStart < text.length()) {
            out.add(new Piece(text.substring(plainStart), -1, plainStart));
        }
    }

    /** Rust's {@code char::is_alphanumeric() || c == '_'}. */
    private static boolean isWordChar(int cp) {
        if (cp == '_' || Character.isAlphabetic(cp)) {
            return true;
        }
        int type = Character.getType(cp);
        return type == Character.DECIMAL_DIGIT_NUMBER || type == Character.LETTER_NUMBER
                || type == Character.OTHER_NUMBER;
    }
}
