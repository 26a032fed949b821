package ai.parallax.runtime;

import java.util.List;

/**
 * Finds stop strings in streamed text. Text that could still turn out to be the start of a stop string is held
 * back, so a client never sees part of a stop string. A pure decision: text in, text out.
 */
public final class StopStringMatcher {
    private final List<String> stops;
    private final StringBuilder pending = new StringBuilder();
    private boolean stopped;

    public StopStringMatcher(List<String> stopStrings) {
        this.stops = stopStrings.stream().filter(s -> !s.isEmpty()).toList();
    }

    /** Adds decoded text; returns the part that is safe to emit now. After a match, {@link #stopped()} is true. */
    public String append(String text) {
        if (stopped) {
            return "";
        }
        if (stops.isEmpty()) {
            return text;
        }
        pending.append(text);
        int earliest = -1;
        for (String stop : stops) {
            int at = pending.indexOf(stop);
            if (at >= 0 && (earliest < 0 || at < earliest)) {
                earliest = at;
            }
        }
        if (earliest >= 0) {
            stopped = true;
            String out = pending.substring(0, earliest);
            pending.setLength(0);
            return out;
        }
        int hold = longestSuffixThatPrefixesAStop();
        String out = pending.substring(0, pending.length() - hold);
        pending.delete(0, pending.length() - hold);
        return out;
    }

    /** The held-back text, once generation ended without a match. */
    public String flush() {
        String out = stopped ? "" : pending.toString();
        pending.setLength(0);
        return out;
    }

    public boolean stopped() {
        return stopped;
    }

    /** Whether the last {@code len} chars of pending equal the first {@code len} chars of stop. */
    private boolean suffixEquals(String stop, int len) {
        int from = pending.length() - len;
        for (int i = 0; i < len; i++) {
            if (pending.charAt(from + i) != stop.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private int longestSuffixThatPrefixesAStop() {
        int best = 0;
        for (String stop : stops) {
            int max = Math.min(stop.length() - 1, pending.length());
            for (int len = max; len > best; len--) {
                if (suffixEquals(stop, len)) {
                    best = len;
                    break;
                }
            }
        }
        return best;
    }
}
