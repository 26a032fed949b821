package ai.parallax.server.cluster;

import ai.parallax.runtime.sampling.SamplingRule;
import ai.parallax.runtime.sampling.TokenLogprob;
import ai.parallax.tensors.ops.BatchLayout;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * One message of the pipeline's data plane, carried in one {@code FrameCodec} frame on a {@code /parallax/activations}
 * stream: a batched step travelling down the stages, its logits coming back, or the news that it failed.
 *
 * <pre>
 * u8 version &lt;&lt; 4 | kind (kind 1 step, 2 output, 3 failed) · i64 epoch · i64 step
 * kind 1, 2: i32 sequences, then per sequence i32 start, i32 count, [version 1+: i32 state slot, -1 for none],
 *            i32 blocks, i32 × blocks (the block table)
 *            i32 logit rows, i32 × rows
 *            [version 2+, kind 1: per logit row u8 rule (0 none: return the row's logits; 1 pick), and for a pick
 *             f64 temperature, i32 top_k, f64 top_p, f64 min_p, f64 draw, i32 logprobs (-1 none)]
 *            [version 2+, kind 2: per logit row i32 picked token (-1: its logits follow in the payload), and for a
 *             picked token i32 alternatives (-1: no logprobs), then f64 logprob and per alternative i32 token,
 *             f64 logprob]
 *            u8 payload (1 token ids i32, 2 f32, 3 bf16, 4 q8) · i32 rows · i32 columns · the values, little-endian
 *            q8: per row, per block of 32 values (the last block of a row may be shorter): f32 scale, then the
 *            block's values as int8 (value ≈ scale × q); blocks never span rows, so a row's encoding does not
 *            depend on which other sequences share the batch
 *            kind 2's payload holds the logits of the rows not picked only (all rows before version 2)
 * kind 3:    the error message, UTF-8
 * </pre>
 *
 * Version 2 (this one writes it for steps and outputs) lets the last stage pick the tokens: a step names, per logit
 * row, the {@link SamplingRule} of its sequence (filters and the draw of the engine's seeded generator), and the
 * output carries the token ids (with logprobs when asked) instead of rows of the vocabulary's width: 4 bytes a
 * sequence instead of 4 × vocabulary (513 KB for Llama 3's). Rows without a rule (sequences with penalties, which
 * need their history) still come back as logits. Version 1 added each sequence's state slot; version 0 frames (the
 * first byte is the bare kind) name no slot. Older frames are still read; a node that knows only an older version
 * refuses a newer frame as an unknown version rather than misreading it. Failure frames stay version 0.
 *
 * The batch layout travels with every step because each stage keeps its own paged KV pool whose block numbers mirror
 * the scheduler's: the block table of a sequence names the same blocks on every stage. The epoch numbers the
 * allocation, so a frame from a pipeline that has since been rebuilt is recognised and dropped. The state slot travels
 * for the same reason: a model that keeps state per sequence (linear attention's recurrent state, sliding layers'
 * rings) keeps it on the stage that holds those layers, in the slot the scheduler's engine reserved for the sequence;
 * a stage without such layers ignores it.
 */
public final class StepFrame {
    public enum Kind { STEP, OUTPUT, FAILED }

    /** The wire format version this code writes for steps and logits (see the class comment). */
    static final int VERSION = 2;

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
    /** STEP: per logit row, the rule to pick its token by, or null to return its logits; null for none at all. */
    public final SamplingRule[] rules;
    /** OUTPUT: per logit row, the token picked, or -1 when its logits are in {@link #values}. */
    public final int[] picked;
    /** OUTPUT: per logit row, the picked token's logprobs when its rule asked for them, else null. */
    public final TokenLogprob[] pickedLogprobs;
    public final Payload payload;
    public final int rows;
    public final int columns;
    /** Token ids (TOKENS) or activations/logits widened to f32 (F32, BF16). */
    public final int[] tokens;
    public final float[] values;
    public final String error;

    private StepFrame(Kind kind, long epoch, long step, int[] starts, int[] counts, int[] stateSlots,
                      int[][] blockTables, int[] logitRows, SamplingRule[] rules, int[] picked,
                      TokenLogprob[] pickedLogprobs, Payload payload, int rows, int columns, int[] tokens,
                      float[] values, String error) {
        this.kind = kind;
        this.epoch = epoch;
        this.step = step;
        this.starts = starts;
        this.counts = counts;
        this.stateSlots = stateSlots;
        this.blockTables = blockTables;
        this.logitRows = logitRows;
        this.rules = rules;
        this.picked = picked;
        this.pickedLogprobs = pickedLogprobs;
        this.payload = payload;
        this.rows = rows;
        this.columns = columns;
        this.tokens = tokens;
        this.values = values;
        this.error = error;
    }

    /** The first stage's input: token ids laid out as {@code batch}. */
    public static StepFrame tokens(long epoch, long step, BatchLayout batch, int[] tokens, int[] logitRows) {
        return tokens(epoch, step, batch, tokens, logitRows, null, 0, 0);
    }

    /**
     * As {@link #tokens(long, long, BatchLayout, int[], int[])}, with every block number shifted by
     * {@code blockOffset} and every state slot by {@code slotOffset}: engines that share one pipeline's stages each
     * own a disjoint range of its KV pool and of its state slots. {@code rules} (one per logit row, null entries
     * for rows whose logits come back; null for none) let the last stage pick the tokens.
     */
    public static StepFrame tokens(long epoch, long step, BatchLayout batch, int[] tokens, int[] logitRows,
                                   SamplingRule[] rules, int blockOffset, int slotOffset) {
        if (rules != null && rules.length < logitRows.length) {
            throw new IllegalArgumentException(rules.length + " sampling rules for " + logitRows.length
                    + " logit rows");
        }
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
        return new StepFrame(Kind.STEP, epoch, step, starts, counts, slots, tables, logitRows.clone(),
                rules == null ? null : java.util.Arrays.copyOf(rules, logitRows.length), null, null, Payload.TOKENS,
                batch.tokenCount(), 1, java.util.Arrays.copyOf(tokens, batch.tokenCount()), null, null);
    }

    /** The same step with hidden states {@code [rows, columns]} for the next stage. */
    public StepFrame withHidden(Payload dtype, float[] hidden, int columns) {
        return new StepFrame(Kind.STEP, epoch, step, starts, counts, stateSlots, blockTables, logitRows, rules, null,
                null, dtype, rows, columns, null, hidden, null);
    }

    /** The last stage's answer when it picked no token: the logits {@code [logitRows, vocab]}. */
    public StepFrame withLogits(float[] logits, int vocab) {
        int[] none = new int[logitRows.length];
        java.util.Arrays.fill(none, -1);
        return withOutput(none, new TokenLogprob[logitRows.length], logits, vocab);
    }

    /**
     * The last stage's answer: per logit row the token it picked (with logprobs, or null) or -1, and the logits
     * {@code [rows not picked, vocab]} of the rows not picked, in row order.
     */
    public StepFrame withOutput(int[] picked, TokenLogprob[] logprobs, float[] unpickedLogits, int vocab) {
        int unpicked = 0;
        for (int i = 0; i < logitRows.length; i++) {
            unpicked += picked[i] < 0 ? 1 : 0;
        }
        return new StepFrame(Kind.OUTPUT, epoch, step, new int[0], new int[0], new int[0], new int[0][], logitRows,
                null, picked.clone(), logprobs.clone(), Payload.F32, unpicked, vocab, null, unpickedLogits, null);
    }

    public static StepFrame failed(long epoch, long step, String error) {
        return new StepFrame(Kind.FAILED, epoch, step, null, null, null, null, null, null, null, null, null, 0, 0,
                null, null, error);
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
        int size = Math.toIntExact(17 + 4 + 4 * logitRows.length + samplingBytes() + 4 + 9
                + payload.wireBytes(rows, columns));
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
        encodeSampling(b);
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

    private static final int RULE_BYTES = 1 + 8 + 4 + 8 + 8 + 8 + 4;

    /** Bytes of the version 2 section: the rules of a step, the picks of an output. */
    private int samplingBytes() {
        int size = 0;
        for (int r = 0; r < logitRows.length; r++) {
            if (kind == Kind.STEP) {
                size += rules != null && rules[r] != null ? RULE_BYTES : 1;
            } else {
                size += 4;
                TokenLogprob lp = picked[r] >= 0 ? pickedLogprobs[r] : null;
                size += picked[r] < 0 ? 0 : lp == null ? 4 : 4 + 8 + 12 * lp.top().size();
            }
        }
        return size;
    }

    private void encodeSampling(ByteBuffer b) {
        for (int r = 0; r < logitRows.length; r++) {
            if (kind == Kind.STEP) {
                SamplingRule rule = rules == null ? null : rules[r];
                if (rule == null) {
                    b.put((byte) 0);
                } else {
                    b.put((byte) 1).putDouble(rule.temperature()).putInt(rule.topK()).putDouble(rule.topP())
                            .putDouble(rule.minP()).putDouble(rule.draw()).putInt(rule.logprobs());
                }
                continue;
            }
            b.putInt(picked[r]);
            if (picked[r] < 0) {
                continue;
            }
            TokenLogprob lp = pickedLogprobs[r];
            if (lp == null) {
                b.putInt(-1);
            } else {
                b.putInt(lp.top().size()).putDouble(lp.logprob());
                for (TokenLogprob.Alternative a : lp.top()) {
                    b.putInt(a.token()).putDouble(a.logprob());
                }
            }
        }
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
            SamplingRule[] rules = null;
            int[] picked = null;
            TokenLogprob[] pickedLogprobs = null;
            if (code == 1 && version >= 2) {
                rules = new SamplingRule[logitRows.length];
                for (int r = 0; r < rules.length; r++) {
                    int flag = b.get();
                    if (flag == 1) {
                        rules[r] = new SamplingRule(b.getDouble(), b.getInt(), b.getDouble(), b.getDouble(),
                                b.getDouble(), b.getInt());
                    } else if (flag != 0) {
                        throw new IllegalArgumentException("step frame has sampling rule flag " + flag);
                    }
                }
            } else if (code == 2) {
                picked = new int[logitRows.length];
                pickedLogprobs = new TokenLogprob[logitRows.length];
                java.util.Arrays.fill(picked, -1);
                for (int r = 0; version >= 2 && r < picked.length; r++) {
                    picked[r] = b.getInt();
                    if (picked[r] < -1) {
                        throw new IllegalArgumentException("output frame names token " + picked[r]);
                    }
                    int alternatives = picked[r] < 0 ? -1 : b.getInt();
                    if (alternatives >= 0) {
                        double logprob = b.getDouble();
                        java.util.List<TokenLogprob.Alternative> top = new java.util.ArrayList<>(
                                count(alternatives, b.remaining() / 12, "alternatives"));
                        for (int a = 0; a < alternatives; a++) {
                            top.add(new TokenLogprob.Alternative(b.getInt(), b.getDouble()));
                        }
                        pickedLogprobs[r] = new TokenLogprob(picked[r], logprob, java.util.List.copyOf(top));
                    } else if (alternatives < -1) {
                        throw new IllegalArgumentException("output frame announces " + alternatives
                                + " alternatives");
                    }
                }
            }
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
            if (code == 2) {
                int unpicked = 0;
                for (int p : picked) {
                    unpicked += p < 0 ? 1 : 0;
                }
                if (rows != unpicked) {
                    throw new IllegalArgumentException("output frame has " + rows + " rows of logits for "
                            + unpicked + " rows not picked");
                }
            }
            return new StepFrame(code == 1 ? Kind.STEP : Kind.OUTPUT, epoch, step, starts, counts, slots, tables,
                    logitRows, rules, picked, pickedLogprobs, payload, rows, columns, tokens, values, null);
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
