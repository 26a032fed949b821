package ai.parallax.p2p.yamux;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Bytes that stream handlers of all connections of one node keep in unfinished frames. Each connection also has its
 * own limit ({@link YamuxConfig#maxHeldBytes}); this one caps the sum, so many peers together cannot exhaust memory
 * either.
 */
public final class ReceiveBudget {
    private final long limit;
    private final AtomicLong used = new AtomicLong();

    public ReceiveBudget(long limit) {
        if (limit <= 0) {
            throw new IllegalArgumentException("receive budget must be positive, got " + limit);
        }
        this.limit = limit;
    }

    boolean reserve(long n) {
        if (used.addAndGet(n) > limit) {
            used.addAndGet(-n);
            return false;
        }
        return true;
    }

    void release(long n) {
        used.addAndGet(-n);
    }

    public long used() {
        return used.get();
    }

    public long limit() {
        return limit;
    }
}
