package ai.parallax.server.serve;

import ai.parallax.server.UserError;
import java.util.Locale;

/**
 * How many KV blocks {@code --kv-cache-memory} buys: either a byte count ({@code 512MiB}, {@code 2GB},
 * {@code 1000000}) or a fraction of the memory free now ({@code 0.25}). A pure calculation.
 */
public final class KvCacheSizing {
    private KvCacheSizing() {
    }

    /** Bytes meant by {@code spec}, given {@code freeBytes} of free memory. */
    public static long bytes(String spec, long freeBytes) {
        String s = spec.strip().toLowerCase(Locale.ROOT);
        try {
            if (s.matches("0?\\.\\d+|1(\\.0*)?")) {
                double fraction = Double.parseDouble(s);
                if (fraction <= 0) {
                    throw new UserError("--kv-cache-memory " + spec + ": a fraction of free memory must be > 0");
                }
                return (long) (fraction * freeBytes);
            }
            long unit = 1;
            String[][] units = {{"kib", "1024"}, {"mib", "1048576"}, {"gib", "1073741824"}, {"kb", "1000"},
                    {"mb", "1000000"}, {"gb", "1000000000"}, {"k", "1024"}, {"m", "1048576"}, {"g", "1073741824"},
                    {"b", "1"}};
            for (String[] u : units) {
                if (s.endsWith(u[0])) {
                    unit = Long.parseLong(u[1]);
                    s = s.substring(0, s.length() - u[0].length()).strip();
                    break;
                }
            }
            long value = (long) (Double.parseDouble(s) * unit);
            if (value <= 0) {
                throw new UserError("--kv-cache-memory " + spec + " must be positive");
            }
            return value;
        } catch (NumberFormatException e) {
            throw new UserError("--kv-cache-memory " + spec + " is neither a size (512MiB, 2GB, 1000000) nor a "
                    + "fraction of free memory (0.25)");
        }
    }

    /**
     * Blocks of {@code bytesPerBlock} that fit in {@code bytes}, capped at what {@code maxRunning} sequences of
     * {@code contextLength} positions could ever use (more would be idle memory).
     */
    public static int blocks(long bytes, long bytesPerBlock, int blockSize, int contextLength, int maxRunning) {
        long fit = bytes / bytesPerBlock;
        long useful = (long) maxRunning * ((contextLength + blockSize - 1) / blockSize);
        long blocks = Math.min(fit, useful);
        if (blocks < 1) {
            throw new UserError("--kv-cache-memory: " + bytes + " bytes do not hold one KV block of " + bytesPerBlock
                    + " bytes (" + blockSize + " positions)");
        }
        return (int) Math.min(blocks, Integer.MAX_VALUE / blockSize);
    }
}
