package ai.parallax.p2p.yamux;

/**
 * Limits that protect a node from a misbehaving peer and size its flow control.
 *
 * @param maxInboundStreams   streams the peer may have open to us at once; further SYNs are answered with RST
 * @param receiveWindow       bytes a stream may have in flight towards us; at least the spec's initial 256 KiB
 * @param maxDataFrame        largest Data frame we send; 65507 lets a frame and its 12-byte header fill exactly one
 *                            Noise message (65535 minus the 16-byte tag)
 * @param maxPendingWriteBytes bytes that may wait in our send queues, across all streams of a connection
 * @param maxHeldBytes        bytes the stream handlers of a connection may keep in unfinished frames
 *                            ({@link ai.parallax.p2p.P2pStream#reserveReceived}); beyond it their streams are reset
 * @param maxControlBacklog   bytes of our answers to the peer's control frames (ping acks, resets) that may queue
 *                            while the peer does not read; beyond it the connection is closed
 */
public record YamuxConfig(int maxInboundStreams, int receiveWindow, int maxDataFrame, long maxPendingWriteBytes,
                          long maxHeldBytes, long maxControlBacklog) {
    /** Initial window of every stream, in both directions (yamux spec). */
    public static final int INITIAL_WINDOW = 256 * 1024;

    public static final YamuxConfig DEFAULT = new YamuxConfig(256, 4 * 1024 * 1024, 65507, 64L * 1024 * 1024,
            64L * 1024 * 1024, 1024 * 1024);

    public YamuxConfig(int maxInboundStreams, int receiveWindow, int maxDataFrame, long maxPendingWriteBytes) {
        this(maxInboundStreams, receiveWindow, maxDataFrame, maxPendingWriteBytes, DEFAULT.maxHeldBytes,
                DEFAULT.maxControlBacklog);
    }

    public YamuxConfig withMaxHeldBytes(long n) {
        return new YamuxConfig(maxInboundStreams, receiveWindow, maxDataFrame, maxPendingWriteBytes, n, maxControlBacklog);
    }

    public YamuxConfig {
        if (receiveWindow < INITIAL_WINDOW) {
            throw new IllegalArgumentException("receiveWindow " + receiveWindow + " is below the initial 256 KiB");
        }
        if (maxDataFrame <= 0 || maxInboundStreams <= 0 || maxPendingWriteBytes <= 0 || maxHeldBytes <= 0
                || maxControlBacklog <= 0) {
            throw new IllegalArgumentException("Yamux limits must be positive");
        }
    }
}
