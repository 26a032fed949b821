package ai.parallax.p2p;

import java.time.Duration;

/**
 * Exponential backoff with jitter for redialing a lost peer: the n-th retry waits {@code initial × multiplier^n},
 * capped at {@code max}, then scaled by a random factor in [1 - jitter, 1] so that many workers that lost the same
 * scheduler do not all redial it in the same instant.
 */
public record Backoff(Duration initial, Duration max, double multiplier, double jitter) {
    public static final Backoff DEFAULT = new Backoff(Duration.ofMillis(250), Duration.ofSeconds(30), 2.0, 0.5);

    public Backoff {
        if (initial.isNegative() || max.compareTo(initial) < 0 || multiplier < 1 || jitter < 0 || jitter > 1) {
            throw new IllegalArgumentException("backoff needs 0 <= initial <= max, multiplier >= 1 and jitter in [0, 1]");
        }
    }

    /** The wait before retry number {@code attempt} (0-based), given a uniform random number in [0, 1). */
    public Duration delay(int attempt, double random) {
        double base = initial.toNanos() * Math.pow(multiplier, Math.min(attempt, 62));
        double capped = Math.min(base, max.toNanos());
        return Duration.ofNanos((long) (capped * (1 - jitter * random)));
    }
}
