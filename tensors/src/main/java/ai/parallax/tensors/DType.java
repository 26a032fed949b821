package ai.parallax.tensors;

import java.util.Arrays;
import java.util.Optional;

/**
 * Element types a tensor can hold, with the names the safetensors format uses for them.
 */
public enum DType {
    F32("F32", 4, true),
    F16("F16", 2, true),
    BF16("BF16", 2, true),
    F8_E4M3("F8_E4M3", 1, true),
    F8_E5M2("F8_E5M2", 1, true),
    I8("I8", 1, false),
    /** Raw bytes: the packed E2M1 pairs and E8M0 scales of MXFP4 weights ({@link Mxfp4}). */
    U8("U8", 1, false),
    I32("I32", 4, false),
    I64("I64", 8, false),
    BOOL("BOOL", 1, false);

    private final String safetensorsName;
    private final int byteSize;
    private final boolean floatingPoint;

    DType(String safetensorsName, int byteSize, boolean floatingPoint) {
        this.safetensorsName = safetensorsName;
        this.byteSize = byteSize;
        this.floatingPoint = floatingPoint;
    }

    /** The dtype string as it appears in a safetensors header. */
    public String safetensorsName() {
        return safetensorsName;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    public boolean isFloatingPoint() {
        return floatingPoint;
    }

    /** Looks up a safetensors dtype name, such as {@code "BF16"}. */
    public static Optional<DType> fromSafetensorsName(String name) {
        return Arrays.stream(values()).filter(d -> d.safetensorsName.equals(name)).findFirst();
    }
}
