package ai.parallax.server.cluster;

import ai.parallax.tensors.ops.BatchLayout;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * One message of the pipeline's data plane, carried in one {@code FrameCodec} frame on a {@code /parallax/activations}
 * stream: a batched step travelling down the stages, its logits coming back, or the news that it failed.
 *
 * <pre>
 * u8 version &lt;&lt; 4 | kind (kind 1 step, 2 logits, 3 failed) · i64 epoch · i64 step
 * kind 1, 2: i32 sequences, then per sequence i32 start, i32 count, [version 1: i32 state slot, -1 for none],
 *            i32 blocks, i32 × blocks (the block table)
 *            i32 logit rows, i32 × rows
 *            u8 payload (1 token ids i32, 2 f32, 3 bf16, 4 q8) · i32 rows · i32 columns · the values, little-endian
 *            q8: per row, per block of 32 values (the last block of a row may be shorter): f32 scale, then the
 *            block's values as int8 (value ≈ scale × q); blocks never span rows, so a row's encoding does not
 *            depend on which other sequences share the batch
 * kind 3:    the error message, UTF-8
 * </pre>
 *
 * Version 1 (this one writes it for steps and logits) adds each sequence's state slot; version 0 frames (the first
 * byte is the bare kind) are still read, their sequences naming no slot. A node that knows only version 0 refuses a
 * version 1 frame as an unknown kind rather than misreading it. Failure frames stay version 0.
 *
 * The batch layout travels with every step because each stage keeps its own paged KV pool whose block numbers mirror
 * the scheduler's: the block table of a sequence names the same blocks on every stage. The epoch numbers the
 * allocation, so a frame from a pipeline that has since been rebuilt is recognised and dropped. The state slot travels
 * for the same reason: a model that keeps state per sequence (linear attention's recurrent state, sliding layers'
 * rings) keeps it on the stage that holds those layers, in the slot the scheduler's engine reserved for the sequence;
 * a stage without such layers ignores it.
 */
public final class StepFrame {
    public enum Kind { STEP, LOGITS, FAILED }

    /** The wire format version this code writes for steps and logits (see the class comment). */
    static final int VERSION = 1;

    public enum Payload {
        TOKENS(1, 4), F32(2, 4), BF16(3, 2), Q8(4, 1);

        /** Values per q8 block, each block with its own scale. */
        static final int Q8_BLOCK = 32;

        final int code;
        final int bytes;

        Payload(int code, int bytes) {
            this.code = code;
            this.bytes = bytes;
        }

        static Payload of(int code) {
            for (Payload p : values()) {
                if (p.code == code) {
                    return p;
                }
            }
            throw new IllegalArgumentException("unknown step payload code " + code);
        }

        /** The activation dtype named on the command line ({@code f32}, {@code bf16}, {@code q8}). */
        public static Payload activation(String name) {
            return switch (name.toLowerCase(java.util.Locale.ROOT)) {
                case "f32" -> F32;
                case "bf16" -> BF16;
                case "q8" -> Q8;
                default -> throw new IllegalArgumentException("--activation-dtype must be f32, bf16 or q8, got '"
                        + name + "'");
            };
        }

        /** Bytes a {@code rows × columns} payload takes on the wire. */
        public long wireBytes(int rows, int columns) {
            if (this == Q8) {
                long blocks = (columns + Q8_BLOCK - 1) / Q8_BLOCK;
                return (long) rows * (blocks * 4 + columns);
            }
            return (long) rows * columns * bytes;
        }
    }

    public final Kind kind;
    public final long epoch;
    public final long step;
    /**
     * Per sequence: start position, token count, state slot ({@link BatchLayout#NO_STATE_SLOT} for none), block
     * table.
     */
    public final int[] starts;
    public final int[] counts;
    public final int[] stateSlots;
    public final int[][] blockTables;
    public final int[] logitRows;
    public final Payload payload;
    public final int rows;
    public final int columns;
    /** Token ids (TOKENS) or activations/logits widened to f32 (F32, BF16). */
    public final int[] tokens;
    public final float[] values;
    public final String error;

    private StepFrame(Kind kind, long epoch, long step, int[] starts, int[] counts, int[] stateSlots,
                      int[][] blockTables, int[] logitRows, Payload payload, int rows, int columns, int[] tokens,
                      float[] values, String error) {
        this.kind = kind;
        this.epoch = epoch;
        this.step = step;
        this.starts = starts;
        this.counts = counts;
        this.stateSlots = stateSlots;
        this.blockTables = blockTables;
        this.logitRows = logitRows;
        this.payload = payload;
        this.rows = rows;
        this.columns = columns;
        this.tokens = tokens;
        this.values = values;
        this.error = error;
    }

    /** The first stage's input: token ids laid out as {@code batch}. */
    public static StepFrame tokens(long epoch, long step, BatchLayout batch, int[] tokens, int[] logitRows) {
        return tokens(epoch, step, batch, tokens, logitRows, 0, 0);
    }

    /**
     * As {@link #tokens(long, long, BatchLayout, int[], int[])}, with every block number shifted by
     * {@code blockOffset} and every state slot by {@code slotOffset}: engines that share one pipeline's stages each
     * own a disjoint range of its KV pool and of its state slots.
     */
    public static StepFrame tokens(long epoch, long step, BatchLayout batch, int[] tokens, int[] logitRows,
                                   int blockOffset, int slotOffset) {
        int n = batch.sequenceCount();
        int[] starts = new int[n];
        int[] counts = new int[n];
        int[] slots = new int[n];
        int[][] tables = new int[n][];
        for (int s = 0; s < n; s++) {
            starts[s] = batch.startPosition(s);
            counts[s] = batch.tokenCount(s);
            int slot = batch.stateSlot(s);
            slots[s] = slot == BatchLayout.NO_STATE_SLOT ? slot : slot + slotOffset;
            int blocks = (starts[s] + counts[s] + batch.blockSize() - 1) / batch.blockSize();
            tables[s] = java.util.Arrays.copyOf(batch.blockTable(s), blocks);
            for (int b = 0; b < blocks; b++) {
                tables[s][b] += blockOffset;
            }
        }
        return new StepFrame(Kind.STEP, epoch, step, starts, counts, slots, tables, logitRows.clone(), Payload.TOKENS,
                batch.tokenCount(), 1, java.util.Arrays.copyOf(tokens, batch.tokenCount()), null, null);
    }

    /** The same step with hidden states {@code [rows, columns]} for the next stage. */
    public StepFrame withHidden(Payload dtype, float[] hidden, int columns) {
        return new StepFrame(Kind.STEP, epoch, step, starts, counts, stateSlots, blockTables, logitRows, dtype, rows,
                columns, null, hidden, null);
    }

    /** The last stage's answer: logits {@code [logitRows, vocab]}. */
    public StepFrame withLogits(float[] logits, int vocab) {
        return new StepFrame(Kind.LOGITS, epoch, step, new int[0], new int[0], new int[0], new int[0][], logitRows,
                Payload.F32, logitRows.length, vocab, null, logits, null);
    }

    public static StepFrame failed(long epoch, long step, String error) {
        return new StepFrame(Kind.FAILED, epoch, step, null, null, null, null, null, null, 0, 0, null, null, error);
    }

    /** Rebuilds the batch layout this step ran with. */
    public void fill(BatchLayout layout) {
        layout.clear();
        for (int s = 0; s < starts.length; s++) {
            layout.add(starts[s], counts[s], blockTables[s], stateSlots[s]);
        }
    }

    public byte[] encode() {
        if (kind == Kind.FAILED) {
            byte[] text = error.getBytes(StandardCharsets.UTF_8);
            return ByteBuffer.allocate(17 + text.length).order(ByteOrder.LITTLE_ENDIAN)
                    .put((byte) 3).putLong(epoch).putLong(step).put(text).array();
        }
        int size = Math.toIntExact(17 + 4 + 4 * logitRows.length + 4 + 9 + payload.wireBytes(rows, columns));
        for (int[] t : blockTables) {
            size += 16 + 4 * t.length;
        }
        ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) (VERSION << 4 | (kind == Kind.STEP ? 1 : 2))).putLong(epoch).putLong(step);
        b.putInt(starts.length);
        for (int s = 0; s < starts.length; s++) {
            b.putInt(starts[s]).putInt(counts[s]).putInt(stateSlots[s]).putInt(blockTables[s].length);
            for (int block : blockTables[s]) {
                b.putInt(block);
            }
        }
        b.putInt(logitRows.length);
        for (int r : logitRows) {
            b.putInt(r);
        }
        b.put((byte) payload.code).putInt(rows).putInt(columns);
        int n = rows * columns;
        switch (payload) {
            case TOKENS -> b.asIntBuffer().put(tokens, 0, n);
            case F32 -> b.asFloatBuffer().put(values, 0, n);
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    b.putShort(b.position() + 2 * i, toBf16(values[i]));
                }
            }
            case Q8 -> encodeQ8(b, values, rows, columns);
        }
        return b.array();
    }

    /**
     * Reads a frame.
     *
     * @throws IllegalArgumentException when the bytes are not a well-formed frame (the peer is then cut off)
     */
    public static StepFrame decode(ByteBuffer in) {
        try {
            ByteBuffer b = in.slice().order(ByteOrder.LITTLE_ENDIAN);
            int first = b.get() & 0xFF;
            int version = first >>> 4;
            int code = first & 0xF;
            long epoch = b.getLong();
            long step = b.getLong();
            if (version > VERSION) {
                throw new IllegalArgumentException("step frame of format version " + version + ", this node reads "
                        + "versions 0 to " + VERSION + ": every node of a cluster must run the same release");
            }
            if (code == 3) {
                byte[] text = new byte[b.remaining()];
                b.get(text);
                return failed(epoch, step, new String(text, StandardCharsets.UTF_8));
            }
            if (code != 1 && code != 2) {
                throw new IllegalArgumentException("unknown step frame kind " + code);
            }
            int n = count(b.getInt(), b.remaining() / (version == 0 ? 12 : 16), "sequences");
            int[] starts = new int[n];
            int[] counts = new int[n];
            int[] slots = new int[n];
            int[][] tables = new int[n][];
            for (int s = 0; s < n; s++) {
                starts[s] = b.getInt();
                counts[s] = b.getInt();
                slots[s] = version == 0 ? BatchLayout.NO_STATE_SLOT : b.getInt();
                if (slots[s] < BatchLayout.NO_STATE_SLOT) {
                    throw new IllegalArgumentException("step frame names state slot " + slots[s] + " for sequence "
                            + s);
                }
                tables[s] = new int[count(b.getInt(), b.remaining() / 4, "blocks")];
                b.asIntBuffer().get(tables[s]);
                b.position(b.position() + 4 * tables[s].length);
            }
            int[] logitRows = new int[count(b.getInt(), b.remaining() / 4, "logit rows")];
            b.asIntBuffer().get(logitRows);
            b.position(b.position() + 4 * logitRows.length);
            Payload payload = Payload.of(b.get());
            int rows = count(b.getInt(), Integer.MAX_VALUE, "rows");
            int columns = count(b.getInt(), Integer.MAX_VALUE, "columns");
            long elements = (long) rows * columns;
            if (payload.wireBytes(rows, columns) != b.remaining()) {
                throw new IllegalArgumentException("payload of " + rows + "×" + columns + " " + payload + " needs "
                        + payload.wireBytes(rows, columns) + " bytes, frame has " + b.remaining());
            }
            int[] tokens = null;
            float[] values = null;
            switch (payload) {
                case TOKENS -> b.asIntBuffer().get(tokens = new int[(int) elements]);
                case F32 -> b.asFloatBuffer().get(values = new float[(int) elements]);
                case BF16 -> {
                    values = new float[(int) elements];
                    for (int i = 0; i < values.length; i++) {
                        values[i] = Float.intBitsToFloat((b.getShort() & 0xFFFF) << 16);
                    }
                }
                case Q8 -> values = decodeQ8(b, rows, columns);
            }
            return new StepFrame(code == 1 ? Kind.STEP : Kind.LOGITS, epoch, step, starts, counts, slots, tables,
                    logitRows, payload, rows, columns, tokens, values, null);
        } catch (java.nio.BufferUnderflowException e) {
            throw new IllegalArgumentException("step frame is truncated", e);
        }
    }

    private static int count(int n, int max, String what) {
        if (n < 0 || n > max) {
            throw new IllegalArgumentException("step frame announces " + n + " " + what + ", more than it holds");
        }
        return n;
    }

    /**
     * Symmetric absmax quantisation per block: scale = max|x| / 127, q = round(x / scale). The error of a value is
     * at most scale / 2, i.e. 1/254 of its block's largest magnitude.
     */
    private static void encodeQ8(ByteBuffer b, float[] values, int rows, int columns) {
        for (int r = 0; r < rows; r++) {
            for (int start = 0; start < columns; start += Payload.Q8_BLOCK) {
                int from = r * columns + start;
                int to = r * columns + Math.min(columns, start + Payload.Q8_BLOCK);
                float max = 0;
                for (int i = from; i < to; i++) {
                    max = Math.max(max, Math.abs(values[i]));
                }
                float scale = max / 127f;
                float inverse = scale == 0 ? 0 : 1f / scale;
                b.putFloat(scale);
                for (int i = from; i < to; i++) {
                    b.put((byte) Math.round(values[i] * inverse));
                }
            }
        }
    }

    private static float[] decodeQ8(ByteBuffer b, int rows, int columns) {
        float[] values = new float[Math.multiplyExact(rows, columns)];
        for (int r = 0; r < rows; r++) {
            for (int start = 0; start < columns; start += Payload.Q8_BLOCK) {
                int from = r * columns + start;
                int to = r * columns + Math.min(columns, start + Payload.Q8_BLOCK);
                float scale = b.getFloat();
                if (!Float.isFinite(scale)) {
                    throw new IllegalArgumentException("q8 block of row " + r + " has scale " + scale);
                }
                for (int i = from; i < to; i++) {
                    values[i] = scale * b.get();
                }
            }
        }
        return values;
    }

    /** Round to nearest even, as torch's bfloat16 conversion does; NaN stays NaN. */
    static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }
}
