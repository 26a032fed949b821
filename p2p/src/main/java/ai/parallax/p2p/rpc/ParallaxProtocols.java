package ai.parallax.p2p.rpc;

/**
 * The cluster's own protocol ids, versioned as libp2p protocol ids are: {@code /parallax/<name>/<major.minor.patch>}.
 * A peer that speaks another major version is refused at stream negotiation instead of misreading our frames.
 */
public final class ParallaxProtocols {
    public static final String VERSION = "1.0.0";
    // control plane: one request, one response per stream
    public static final String JOIN = id("join");
    public static final String HEARTBEAT = id("heartbeat");
    public static final String LEAVE = id("leave");
    public static final String ALLOCATION = id("allocation");
    public static final String STATUS = id("status");
    // data plane: long-lived streams of frames
    public static final String ACTIVATIONS = id("activations");
    public static final String TOKENS = id("tokens");
    public static final String ABORT = id("abort");

    private ParallaxProtocols() {
    }

    public static String id(String name) {
        if (!name.matches("[a-z][a-z0-9-]*")) {
            throw new IllegalArgumentException("protocol name '" + name + "' must be lower-case letters, digits and '-'");
        }
        return "/parallax/" + name + "/" + VERSION;
    }
}
