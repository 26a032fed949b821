package ai.parallax.models;

/**
 * The contiguous decoder layers [start, end) that one pipeline stage holds, out of {@code total}. The first stage
 * also holds the token embedding; the last also holds the final norm and the LM head.
 */
public record LayerRange(int start, int end, int total) {
    public LayerRange {
        if (total <= 0 || start < 0 || end > total || start >= end) {
            throw new IllegalArgumentException("invalid layer range [" + start + ", " + end + ") of " + total
                    + " layers");
        }
    }

    /** Every layer: the whole model in one stage. */
    public static LayerRange all(int total) {
        return new LayerRange(0, total, total);
    }

    public boolean isFirst() {
        return start == 0;
    }

    public boolean isLast() {
        return end == total;
    }

    public boolean isWholeModel() {
        return isFirst() && isLast();
    }

    public int count() {
        return end - start;
    }

    public boolean contains(int layer) {
        return layer >= start && layer < end;
    }

    @Override
    public String toString() {
        return "[" + start + ", " + end + ") of " + total;
    }
}
