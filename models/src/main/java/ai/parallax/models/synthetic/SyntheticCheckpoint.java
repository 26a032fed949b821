package ai.parallax.models.synthetic;

import ai.parallax.models.LoadProgress;
import ai.parallax.models.ModelException;
import ai.parallax.tensors.DType;
import ai.parallax.tensors.FloatFormats;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.safetensors.SafetensorsWriter;
import ai.parallax.tensors.safetensors.SafetensorsWriter.Entry;
import ai.parallax.tensors.safetensors.SafetensorsWriter.TensorBytes;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * Writes a model directory in Hugging Face layout (config.json, generation_config.json, sharded safetensors with
 * model.safetensors.index.json, and a tokenizer copied from another directory) for a {@link ModelShape}, filled with
 * seeded random weights. Benchmarks get multi-GB models this way without any download.
 *
 * <p>Memory stays bounded whatever the model size: every tensor is generated chunk by chunk while
 * {@link SafetensorsWriter} streams it to disk, so only one chunk of one tensor exists at a time.
 *
 * <p>Weights are uniform in {@code ±sqrt(3 / fan_in)}, which has the variance {@code 1 / fan_in} of the usual
 * initialisations, so activations keep their scale through the layers; norm weights are {@code 1 ± 0.05}. Each
 * tensor draws from its own stream, seeded by the run's seed and the tensor's name, so a tensor's values do not
 * depend on the order or sharding of the others.
 *
 * <p>An instance reuses one chunk buffer, so it writes one model at a time.
 */
public final class SyntheticCheckpoint {
    /** Hugging Face's {@code save_pretrained} splits at 5 GB; smaller shards keep single files easy to move. */
    public static final long DEFAULT_MAX_SHARD_BYTES = 2L << 30;
    /** The block of an FP8 weight that shares one scale, as Qwen3-*-FP8 and DeepSeek-V3 use. */
    public static final int FP8_BLOCK = 128;

    private static final int CHUNK_ELEMENTS = 1 << 18;
    private static final float FP8_MAX = 448f;
    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
            .build();

    /** The weight formats {@code synth} writes. */
    public enum WeightFormat {
        BF16(DType.BF16, "bfloat16"),
        F16(DType.F16, "float16"),
        F32(DType.F32, "float32"),
        /** F8_E4M3 projections with a float scale per 128×128 block; embeddings and norms stay BF16. */
        FP8(DType.BF16, "bfloat16");

        private final DType dtype;
        private final String torchName;

        WeightFormat(DType dtype, String torchName) {
            this.dtype = dtype;
            this.torchName = torchName;
        }

        /** Parses {@code bf16}, {@code f16}, {@code f32} or {@code fp8}. */
        public static WeightFormat parse(String text) {
            for (WeightFormat f : values()) {
                if (f.name().equalsIgnoreCase(text)) {
                    return f;
                }
            }
            throw new ModelException("unknown dtype \"" + text + "\" (known: bf16, f16, f32, fp8)");
        }
    }

    /** What was written. */
    public record Summary(Path directory, long parameters, long tensorBytes, List<Path> shards) {
    }

    private final ModelShape shape;        // null for a family shape
    private final FamilyShape family;      // null for a Llama-style shape
    private final WeightFormat format;
    private final long seed;
    /** One chunk buffer for every tensor: the writer's memory does not grow with the number of tensors. */
    private final ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK_ELEMENTS * Float.BYTES)
            .order(ByteOrder.LITTLE_ENDIAN);

    public SyntheticCheckpoint(ModelShape shape, WeightFormat format, long seed) {
        this.shape = shape;
        this.family = null;
        this.format = format;
        this.seed = seed;
    }

    /**
     * A writer for one of the large families, in the storage its official checkpoints use: block FP8 for
     * DeepSeek-V3 and Kimi-K2 (their config carries an fp8 {@code quantization_config}), BF16 with MXFP4 experts for
     * gpt-oss, BF16 for Qwen3-Next.
     */
    public SyntheticCheckpoint(FamilyShape family, long seed) {
        this.shape = null;
        this.family = family;
        this.format = "fp8".equals(family.config().path("quantization_config").path("quant_method").asText())
                ? WeightFormat.FP8 : WeightFormat.BF16;
        this.seed = seed;
    }

    /** How the weights are stored, in words: {@code bf16}, {@code fp8}, {@code bf16 + mxfp4 experts}. */
    public String storage() {
        String name = format.name().toLowerCase(Locale.ROOT);
        return family != null && "mxfp4".equals(family.config().path("quantization_config").path("quant_method")
                .asText()) ? name + " + mxfp4 experts" : name;
    }

    /** The weight format this writer stores projections in. */
    public WeightFormat format() {
        return format;
    }

    /** Parameters of the model written: one per stored value (an MXFP4 byte holds two), scales not counted. */
    public long parameterCount() {
        if (shape != null) {
            return shape.parameterCount();
        }
        long count = 0;
        for (Entry e : entries()) {
            String name = e.name();
            if (name.endsWith("_scales") || name.endsWith(".weight_scale_inv")) {
                continue;
            }
            long elements = Tensor.elementCount(e.shape());
            count += name.endsWith("_blocks") ? 2 * elements : elements;
        }
        return count;
    }

    /**
     * Writes the model into {@code out} (created if needed), copying tokenizer.json and tokenizer_config.json from
     * {@code tokenizerDir} when it is not null.
     */
    public Summary write(Path out, Path tokenizerDir, long maxShardBytes, LoadProgress progress) throws IOException {
        return write(out, tokenizerDir, maxShardBytes, progress, false);
    }

    /**
     * As {@link #write(Path, Path, long, LoadProgress)}; with {@code holes}, every tensor's data is left as a hole
     * that reads as zeros, so the checkpoint has its full layout (headers, index, file sizes) and takes almost no
     * disk on a file system with sparse files. Such a model loads and can be placed, but its outputs mean nothing:
     * it is for checking layouts and memory estimates of models too large to write.
     */
    public Summary write(Path out, Path tokenizerDir, long maxShardBytes, LoadProgress progress, boolean holes)
            throws IOException {
        if (tokenizerDir != null && !Files.isRegularFile(tokenizerDir.resolve("tokenizer.json"))) {
            throw new ModelException("no tokenizer.json in " + tokenizerDir);
        }
        Files.createDirectories(out);
        List<Entry> entries = entries();
        if (holes) {
            entries = entries.stream().map(e -> new Entry(e.name(), e.dtype(), e.shape(), TensorBytes.HOLE)).toList();
        }
        long total = entries.stream().mapToLong(Entry::byteSize).sum();
        List<List<Entry>> shards = shards(entries, maxShardBytes, total, progress);
        Files.writeString(out.resolve("config.json"), configJson());
        Files.writeString(out.resolve("generation_config.json"), generationConfigJson());
        if (tokenizerDir != null) {
            for (String file : List.of("tokenizer.json", "tokenizer_config.json")) {
                if (Files.isRegularFile(tokenizerDir.resolve(file))) {
                    Files.copy(tokenizerDir.resolve(file), out.resolve(file), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
        List<Path> files = SafetensorsWriter.writeSharded(out, shards, Map.of("format", "pt"));
        return new Summary(out, parameterCount(), total, files);
    }

    /** Every tensor of the model, in the order Hugging Face's state dict lists them. */
    List<Entry> entries() {
        if (family != null) {
            return FamilyCheckpointLayout.entries(this, family.config());
        }
        long hidden = shape.hiddenSize();
        List<Entry> entries = new ArrayList<>();
        entries.add(dense("model.embed_tokens.weight", shape.vocabSize(), hidden));
        boolean qkNorm = shape.modelType().startsWith("qwen3");
        for (int layer = 0; layer < shape.numLayers(); layer++) {
            String p = "model.layers." + layer + ".";
            projection(entries, p + "self_attn.q_proj", shape.queryWidth(), hidden);
            projection(entries, p + "self_attn.k_proj", shape.keyValueWidth(), hidden);
            projection(entries, p + "self_attn.v_proj", shape.keyValueWidth(), hidden);
            projection(entries, p + "self_attn.o_proj", hidden, shape.queryWidth());
            if (qkNorm) {
                entries.add(norm(p + "self_attn.q_norm.weight", shape.headDim()));
                entries.add(norm(p + "self_attn.k_norm.weight", shape.headDim()));
            }
            if (shape.isMixtureOfExperts()) {
                // Qwen3-MoE: a router "mlp.gate" and per-expert gate/up/down projections.
                entries.add(dense(p + "mlp.gate.weight", shape.experts(), hidden));
                for (int e = 0; e < shape.experts(); e++) {
                    String x = p + "mlp.experts." + e + ".";
                    projection(entries, x + "gate_proj", shape.expertIntermediate(), hidden);
                    projection(entries, x + "up_proj", shape.expertIntermediate(), hidden);
                    projection(entries, x + "down_proj", hidden, shape.expertIntermediate());
                }
            } else {
                projection(entries, p + "mlp.gate_proj", shape.intermediateSize(), hidden);
                projection(entries, p + "mlp.up_proj", shape.intermediateSize(), hidden);
                projection(entries, p + "mlp.down_proj", hidden, shape.intermediateSize());
            }
            entries.add(norm(p + "input_layernorm.weight", hidden));
            entries.add(norm(p + "post_attention_layernorm.weight", hidden));
        }
        entries.add(norm("model.norm.weight", hidden));
        if (!shape.tieWordEmbeddings()) {
            entries.add(dense("lm_head.weight", shape.vocabSize(), hidden));
        }
        return entries;
    }

    /** A projection {@code [rows, cols]} in the writer's format: BF16/F16/F32, or F8_E4M3 with block scales. */
    void projection(List<Entry> entries, String prefix, long rows, long cols) {
        if (format != WeightFormat.FP8) {
            entries.add(dense(prefix + ".weight", rows, cols));
            return;
        }
        float bound = uniformBound(cols);
        // The stored value q stands for q · scale_inv; drawing q uniform in ±448 makes the weight uniform in ±bound.
        entries.add(new Entry(prefix + ".weight", DType.F8_E4M3, new long[] {rows, cols},
                randomBytes(prefix + ".weight", rows * cols, DType.F8_E4M3, 0f, FP8_MAX)));
        long blockRows = (rows + FP8_BLOCK - 1) / FP8_BLOCK;
        long blockCols = (cols + FP8_BLOCK - 1) / FP8_BLOCK;
        float[] scales = new float[Math.toIntExact(blockRows * blockCols)];
        java.util.Arrays.fill(scales, bound / FP8_MAX);
        entries.add(Entry.ofFloats(prefix + ".weight_scale_inv", DType.F32, new long[] {blockRows, blockCols}, scales));
    }

    /** A matrix {@code [rows, cols]} in the writer's plain type, uniform with variance {@code 1 / cols}. */
    Entry dense(String name, long rows, long cols) {
        return new Entry(name, format.dtype, new long[] {rows, cols},
                randomBytes(name, rows * cols, format.dtype, 0f, uniformBound(cols)));
    }

    private Entry norm(String name, long width) {
        return new Entry(name, format.dtype, new long[] {width}, randomBytes(name, width, format.dtype, 1f, 0.05f));
    }

    /**
     * A tensor of {@code dtype} uniform in {@code center ± bound}; for U8, the value's floor clamped to a byte
     * (so {@code 127.5 ± 128} gives every byte, {@code e ± 0} the constant {@code e}).
     */
    Entry filled(String name, DType dtype, float center, float bound, long... dims) {
        return new Entry(name, dtype, dims, randomBytes(name, Tensor.elementCount(dims), dtype,
                center, bound));
    }

    private static float uniformBound(long fanIn) {
        return (float) Math.sqrt(3.0 / fanIn);
    }

    /** {@code count} values uniform in {@code center ± bound}, stored as {@code dtype}, generated chunk by chunk. */
    private TensorBytes randomBytes(String name, long count, DType dtype, float center, float bound) {
        long streamSeed = seed * 0x9E3779B97F4A7C15L + name.hashCode();
        return channel -> {
            SplittableRandom random = new SplittableRandom(streamSeed);
            // 2^-31 maps a signed int onto [-1, 1).
            float scale = bound * 0x1p-31f;
            for (long done = 0; done < count; ) {
                int n = (int) Math.min(CHUNK_ELEMENTS, count - done);
                chunk.clear();
                for (int i = 0; i < n; i++) {
                    float v = center + random.nextInt() * scale;
                    switch (dtype) {
                        case F32 -> chunk.putFloat(v);
                        case F16 -> chunk.putShort(FloatFormats.floatToF16(v));
                        case BF16 -> chunk.putShort(FloatFormats.floatToBf16(v));
                        case F8_E4M3 -> chunk.put(floatToF8e4m3(v));
                        case U8 -> chunk.put((byte) Math.clamp(Math.round(Math.floor(v)), 0, 255));
                        default -> throw new IllegalStateException("no random " + dtype + " weights");
                    }
                }
                chunk.flip();
                while (chunk.hasRemaining()) {
                    channel.write(chunk);
                }
                done += n;
            }
        };
    }

    /**
     * Rounds a float to the nearest FP8 E4M3 ("FN", as {@code torch.float8_e4m3fn}), ties to even, saturating at
     * ±448: the inverse of {@link FloatFormats#f8e4m3ToFloat}.
     */
    static byte floatToF8e4m3(float value) {
        if (Float.isNaN(value)) {
            return 0x7F;
        }
        int sign = value < 0 || (value == 0 && 1 / value < 0) ? 0x80 : 0;
        float a = Math.min(Math.abs(value), FP8_MAX);
        int bits;
        if (a < 0x1p-6f) {
            // Subnormals are multiples of 2^-9; rounding up to 8 lands exactly on the smallest normal, code 0x08.
            bits = (int) Math.rint(a * 0x1p9f);
        } else {
            int exponent = Math.getExponent(a);
            int mantissa = (int) Math.rint((a / Math.scalb(1f, exponent) - 1f) * 8f);
            if (mantissa == 8) {
                exponent++;
                mantissa = 0;
            }
            bits = ((exponent + 7) << 3) | mantissa;
        }
        return (byte) (sign | bits);
    }

    private List<List<Entry>> shards(List<Entry> entries, long maxShardBytes, long total, LoadProgress progress) {
        if (maxShardBytes <= 0) {
            throw new IllegalArgumentException("shard size must be positive, got " + maxShardBytes);
        }
        List<List<Entry>> shards = new ArrayList<>();
        List<Entry> current = new ArrayList<>();
        long currentBytes = 0;
        long[] written = {0};
        for (Entry entry : entries) {
            if (!current.isEmpty() && currentBytes + entry.byteSize() > maxShardBytes) {
                shards.add(current);
                current = new ArrayList<>();
                currentBytes = 0;
            }
            long size = entry.byteSize();
            TensorBytes source = entry.bytes();
            if (source == TensorBytes.HOLE) {
                current.add(entry);
                currentBytes += size;
                continue;
            }
            current.add(new Entry(entry.name(), entry.dtype(), entry.shape(), channel -> {
                source.writeTo(channel);
                written[0] += size;
                progress.update(written[0], total);
            }));
            currentBytes += size;
        }
        shards.add(current);
        return shards;
    }

    /** config.json with the fields transformers writes for this model_type, keys sorted as it sorts them. */
    String configJson() throws IOException {
        if (family != null) {
            return JSON.writeValueAsString(JSON.treeToValue(family.config(), TreeMap.class)) + "\n";
        }
        Map<String, Object> c = new TreeMap<>();
        c.put("attention_bias", false);
        c.put("attention_dropout", 0.0);
        c.put("bos_token_id", shape.bosTokenId());
        c.put("eos_token_id", shape.eosTokenId());
        c.put("head_dim", shape.headDim());
        c.put("hidden_act", "silu");
        c.put("hidden_size", shape.hiddenSize());
        c.put("initializer_range", 0.02);
        c.put("intermediate_size", shape.intermediateSize());
        c.put("max_position_embeddings", shape.maxPositionEmbeddings());
        c.put("model_type", shape.modelType());
        c.put("num_attention_heads", shape.numHeads());
        c.put("num_hidden_layers", shape.numLayers());
        c.put("num_key_value_heads", shape.numKeyValueHeads());
        c.put("rms_norm_eps", shape.rmsNormEps());
        c.put("rope_theta", shape.ropeTheta());
        c.put("tie_word_embeddings", shape.tieWordEmbeddings());
        c.put("torch_dtype", format.torchName);
        c.put("transformers_version", "4.51.0");
        c.put("use_cache", true);
        c.put("vocab_size", shape.vocabSize());
        switch (shape.modelType()) {
            case "llama" -> {
                c.put("architectures", List.of("LlamaForCausalLM"));
                c.put("mlp_bias", false);
                c.put("pretraining_tp", 1);
                ModelShape.Llama3Rope r = shape.llama3Rope();
                if (r == null) {
                    c.put("rope_scaling", null);
                } else {
                    Map<String, Object> rope = new TreeMap<>();
                    rope.put("factor", r.factor());
                    rope.put("high_freq_factor", r.highFreqFactor());
                    rope.put("low_freq_factor", r.lowFreqFactor());
                    rope.put("original_max_position_embeddings", r.originalMaxPositions());
                    rope.put("rope_type", "llama3");
                    c.put("rope_scaling", rope);
                }
            }
            case "qwen3", "qwen3_moe" -> {
                boolean moe = shape.isMixtureOfExperts();
                c.put("architectures", List.of(moe ? "Qwen3MoeForCausalLM" : "Qwen3ForCausalLM"));
                c.put("max_window_layers", shape.numLayers());
                c.put("rope_scaling", null);
                c.put("sliding_window", null);
                c.put("use_sliding_window", false);
                if (moe) {
                    c.put("decoder_sparse_step", 1);
                    c.put("mlp_only_layers", List.of());
                    c.put("moe_intermediate_size", shape.expertIntermediate());
                    c.put("norm_topk_prob", true);
                    c.put("num_experts", shape.experts());
                    c.put("num_experts_per_tok", shape.expertsPerToken());
                    c.put("output_router_logits", false);
                    c.put("router_aux_loss_coef", 0.001);
                }
            }
            default -> throw new IllegalStateException("no config writer for model_type " + shape.modelType());
        }
        if (format == WeightFormat.FP8) {
            Map<String, Object> q = new TreeMap<>();
            q.put("activation_scheme", "dynamic");
            q.put("fmt", "e4m3");
            q.put("quant_method", "fp8");
            q.put("weight_block_size", List.of(FP8_BLOCK, FP8_BLOCK));
            c.put("quantization_config", q);
        }
        return JSON.writeValueAsString(c) + "\n";
    }

    private String generationConfigJson() throws IOException {
        Map<String, Object> g = new TreeMap<>();
        if (family != null) {
            for (String field : List.of("bos_token_id", "eos_token_id")) {
                if (family.config().has(field)) {
                    g.put(field, family.config().get(field).asInt());
                }
            }
        } else {
            g.put("bos_token_id", shape.bosTokenId());
            g.put("eos_token_id", shape.eosTokenId());
        }
        g.put("transformers_version", "4.51.0");
        return JSON.writeValueAsString(g) + "\n";
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%s %s seed %d", shape != null ? shape.name() : family.name(), format,
                seed);
    }
}
