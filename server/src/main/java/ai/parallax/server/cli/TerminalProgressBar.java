package ai.parallax.server.cli;

import ai.parallax.models.LoadProgress;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * A one-line progress bar for loading weights, redrawn in place with carriage returns. It draws only when stderr is
 * an interactive terminal and the model is large enough for loading to take noticeable time.
 *
 * <p>Written by hand rather than with a progress-bar library: those bring a terminal library whose start-up probing
 * costs more than the whole bar.
 */
final class TerminalProgressBar implements LoadProgress, AutoCloseable {
    /** Below this, loading is instant and a bar would only flicker. */
    private static final long MIN_BYTES = 64L << 20;
    private static final int WIDTH = 30;

    private final PrintWriter err;
    private final boolean enabled;
    private final long startNanos = System.nanoTime();
    private int lastPermille = -1;
    private boolean drawn;
    private boolean closed;

    private TerminalProgressBar(PrintWriter err, boolean enabled) {
        this.err = err;
        this.enabled = enabled;
    }

    /** A bar on {@code err} when {@code wanted} and the process has a terminal. */
    static TerminalProgressBar forLoading(PrintWriter err, boolean wanted) {
        return new TerminalProgressBar(err, wanted && System.console() != null && System.console().isTerminal());
    }

    @Override
    public void update(long bytesDone, long bytesTotal) {
        if (!enabled || closed || bytesTotal < MIN_BYTES) {
            return;
        }
        int permille = (int) (bytesDone * 1000 / Math.max(1, bytesTotal));
        if (permille == lastPermille) {
            return;
        }
        lastPermille = permille;
        int filled = permille * WIDTH / 1000;
        double seconds = (System.nanoTime() - startNanos) / 1e9;
        err.printf(Locale.ROOT, "\rloading weights [%s%s] %5.1f%% %,d / %,d MiB %.1fs", "#".repeat(filled),
                " ".repeat(WIDTH - filled), permille / 10.0, bytesDone >> 20, bytesTotal >> 20, seconds);
        err.flush();
        drawn = true;
    }

    @Override
    public void close() {
        if (!closed && drawn) {
            err.println();
            err.flush();
        }
        closed = true;
    }
}
