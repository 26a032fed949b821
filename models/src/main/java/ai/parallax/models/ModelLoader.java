package ai.parallax.models;

import ai.parallax.models.config.Fp8Quantization;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.models.deepseek.DeepSeekModel;
import ai.parallax.models.gptoss.GptOssModel;
import ai.parallax.models.llama.LlamaModel;
import ai.parallax.models.llama.LlamaVariant;
import ai.parallax.models.quant.Q8Store;
import ai.parallax.tensors.DType;
import ai.parallax.models.qwen3next.Qwen3NextModel;
import ai.parallax.tensors.ops.Ops;
import ai.parallax.tensors.safetensors.Checkpoint;
import ai.parallax.tensors.safetensors.TensorInfo;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Opens a Hugging Face model directory (config.json + safetensors) and builds the architecture its
 * {@code model_type} names, for the whole model or a range of layers.
 */
public final class ModelLoader {
    /** model_type → the variant of the Llama forward pass it uses. */
    private static final Map<String, Function<ModelConfig, LlamaVariant>> LLAMA_FAMILY = new LinkedHashMap<>();

    /**
     * model_type → an architecture with a forward pass of its own, which reads its quantization_config itself. Each
     * builder gets the config, a loader over the checkpoint, the layer range, the backend, the positions the rotary
     * tables must cover, and the config file's path for error messages.
     */
    private static final Map<String, Architecture> ARCHITECTURES = new LinkedHashMap<>();

    /** Builds one stage of an architecture outside the Llama family. */
    @FunctionalInterface
    private interface Architecture {
        CausalLanguageModel load(ModelConfig config, WeightLoader weights, LayerRange range, Ops ops, int positions,
                                 String source);
    }

    static {
        ARCHITECTURES.put("gpt_oss", GptOssModel::load);
        LLAMA_FAMILY.put("llama", LlamaVariant::llama);
        LLAMA_FAMILY.put("qwen2", LlamaVariant::qwen2);
        LLAMA_FAMILY.put("qwen3", LlamaVariant::qwen3);
        LLAMA_FAMILY.put("qwen2_moe", LlamaVariant::qwen2Moe);
        LLAMA_FAMILY.put("qwen3_moe", LlamaVariant::qwen3Moe);
    }

    /** Architectures whose quantization_config is not block FP8 (gpt-oss: MXFP4 experts) and is read by the model. */
    private static final Set<String> OWN_QUANTIZATION = Set.of("gpt_oss");

    static {
        ARCHITECTURES.put("deepseek_v3", (c, w, r, o, p, source) -> DeepSeekModel.load(c, w, r, o, p));
        ARCHITECTURES.put("kimi_k2", (c, w, r, o, p, source) -> DeepSeekModel.load(c, w, r, o, p));
        ARCHITECTURES.put("qwen3_next", (c, w, r, o, p, source) -> Qwen3NextModel.load(c, w, r, o, p));
    }

    private ModelLoader() {
    }

    /** The model_type values this build can run. */
    public static Set<String> supportedModelTypes() {
        Set<String> all = new java.util.LinkedHashSet<>(LLAMA_FAMILY.keySet());
        all.addAll(ARCHITECTURES.keySet());
        return Collections.unmodifiableSet(all);
    }

    /** Loads every layer. */
    public static CausalLanguageModel load(Path dir, Ops ops, int maxPositions) {
        ModelConfig config = ModelConfig.read(requireDirectory(dir));
        return load(dir, config, ops, LayerRange.all(config.numLayers()), maxPositions);
    }

    /**
     * Loads the layers {@code range} of the model in {@code dir}; only those layers' tensors are mapped.
     *
     * @param maxPositions the longest sequence (prompt + generation) the model will run
     */
    public static CausalLanguageModel load(Path dir, ModelConfig config, Ops ops, LayerRange range, int maxPositions) {
        return load(dir, config, ops, range, maxPositions, null);
    }

    /**
     * As {@link #load(Path, ModelConfig, Ops, LayerRange, int)}, and with a {@code progress} listener also pages
     * the stage's weights into memory (and a GPU backend uploads them, {@link Ops#prepareWeight}) before returning,
     * reporting bytes as it goes.
     */
    public static CausalLanguageModel load(Path dir, ModelConfig config, Ops ops, LayerRange range, int maxPositions,
                                           LoadProgress progress) {
        return load(dir, config, ops, range, maxPositions, progress, WeightQuantization.NONE);
    }

    /**
     * As {@link #load(Path, ModelConfig, Ops, LayerRange, int, LoadProgress)}, holding the linear weights as
     * {@code conversion} says. Weights converted to Q8 are saved beside the model ({@link Q8Store}) for the next
     * load; when that is impossible (say, a read-only directory) a warning is logged and the model runs anyway.
     */
    public static CausalLanguageModel load(Path dir, ModelConfig config, Ops ops, LayerRange range, int maxPositions,
                                           LoadProgress progress, WeightQuantization conversion) {
        requireDirectory(dir);
        Function<ModelConfig, LlamaVariant> variant = LLAMA_FAMILY.get(config.modelType());
        Architecture architecture = ARCHITECTURES.get(config.modelType());
        if (variant == null && architecture == null) {
            throw new ModelException(dir.resolve("config.json") + ": model_type \"" + config.modelType()
                    + "\" is not supported (supported: " + String.join(", ", supportedModelTypes()) + ")");
        }
        String source = dir.resolve("config.json").toString();
        int positions = Math.min(maxPositions, config.maxPositionEmbeddings());
        WeightLoader weights = OWN_QUANTIZATION.contains(config.modelType())
                ? new WeightLoader(Checkpoint.open(dir))
                : new WeightLoader(Checkpoint.open(dir), Fp8Quantization.parse(config, source), conversion);
        try {
            CausalLanguageModel model = architecture != null
                    ? architecture.load(config, weights, range, ops, positions, source)
                    : LlamaModel.load(config, variant.apply(config), weights, range, ops, positions);
            try {
                weights.saveQuantized();
            } catch (java.io.IOException | RuntimeException e) {
                System.getLogger(ModelLoader.class.getName()).log(System.Logger.Level.WARNING,
                        "could not save the Q8 copy beside " + dir + " (it will be converted again next time): "
                                + e.getMessage());
            }
            if (progress != null) {
                weights.prefetch(progress, ops::prepareWeight);
            }
            return model;
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    /**
     * The weight memory each decoder layer needs, from the checkpoint's headers alone (nothing is mapped): every
     * tensor named {@code model.layers.N.*}, so every expert of an MoE layer and every FP8 scale counts, whichever
     * experts a step ends up routing to. This is what placing a layer range on a machine must budget for. DeepSeek
     * layers also count the absorbed attention matrices they build at load time.
     */
    public static long[] layerWeightBytes(Path dir) {
        ModelConfig config = ModelConfig.read(requireDirectory(dir));
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            long[] bytes = new long[config.numLayers()];
            for (String name : checkpoint.tensorNames()) {
                if (!name.startsWith("model.layers.")) {
                    continue;
                }
                int end = name.indexOf('.', "model.layers.".length());
                int layer = Integer.parseInt(name.substring("model.layers.".length(), end));
                if (layer < bytes.length) {
                    bytes[layer] += checkpoint.info(name).orElseThrow().byteSize();
                }
            }
            if (DeepSeekModel.MODEL_TYPES.contains(config.modelType())) {
                DType kvUp = checkpoint.info("model.layers.0.self_attn.kv_b_proj.weight").map(TensorInfo::dtype)
                        .orElse(DType.F32);
                long extra = DeepSeekModel.extraBytesPerLayer(config, kvUp);
                for (int layer = 0; layer < bytes.length; layer++) {
                    bytes[layer] += extra;
                }
            }
            return bytes;
        }
    }

    /**
     * Bytes of one KV block of {@code blockSize} positions over the first {@code layerCount} layers, as the serving
     * engine's cache really holds it ({@link LayerProfile}): keys and values per KV head for full attention, the
     * compressed latent for DeepSeek's MLA, and nothing for the layers whose memory does not grow with the context
     * (linear attention's fixed state, sliding layers' rings: {@link #stateBytesPerSequence}). What sizing a paged
     * pool divides its memory by; at least 1.
     */
    public static long kvCacheBytesPerBlock(ModelConfig config, int layerCount, int blockSize) {
        long perPosition = 0;
        for (int layer = 0; layer < layerCount; layer++) {
            LayerProfile profile = LayerProfile.of(config, layer);
            if (profile.window() == 0) {
                perPosition += profile.cacheBytesPerPosition();
            }
        }
        return Math.max(1, perPosition * blockSize);
    }

    /**
     * Bytes each running sequence holds beside its KV blocks over the first {@code layerCount} layers, whatever its
     * length: the recurrent state of linear-attention layers, and the ring of {@code 2 · window} positions of each
     * sliding layer ({@link GptOssModel#ringRows}). The serving engine keeps this for each of its max running
     * sequences.
     */
    public static long stateBytesPerSequence(ModelConfig config, int layerCount) {
        long bytes = 0;
        for (int layer = 0; layer < layerCount; layer++) {
            LayerProfile profile = LayerProfile.of(config, layer);
            bytes += profile.stateBytesPerSequence();
            if (profile.window() > 0) {
                int rows = GptOssModel.ringRows(profile.window(), config.maxPositionEmbeddings());
                bytes += (long) rows * profile.cacheBytesPerPosition();
            }
        }
        return bytes;
    }

    private static Path requireDirectory(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new ModelException("model directory " + dir + " does not exist");
        }
        return dir;
    }
}
