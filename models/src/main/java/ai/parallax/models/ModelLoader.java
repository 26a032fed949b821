package ai.parallax.models;

import ai.parallax.models.config.Fp8Quantization;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.models.llama.LlamaModel;
import ai.parallax.models.llama.LlamaVariant;
import ai.parallax.models.quant.Q8Store;
import ai.parallax.tensors.ops.Ops;
import ai.parallax.tensors.safetensors.Checkpoint;

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

    static {
        LLAMA_FAMILY.put("llama", LlamaVariant::llama);
        LLAMA_FAMILY.put("qwen2", LlamaVariant::qwen2);
        LLAMA_FAMILY.put("qwen3", LlamaVariant::qwen3);
        LLAMA_FAMILY.put("qwen2_moe", LlamaVariant::qwen2Moe);
        LLAMA_FAMILY.put("qwen3_moe", LlamaVariant::qwen3Moe);
    }

    private ModelLoader() {
    }

    /** The model_type values this build can run. */
    public static Set<String> supportedModelTypes() {
        return Collections.unmodifiableSet(LLAMA_FAMILY.keySet());
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
     * the stage's weights into memory before returning, reporting bytes as it goes.
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
        if (variant == null) {
            throw new ModelException(dir.resolve("config.json") + ": model_type \"" + config.modelType()
                    + "\" is not supported (supported: " + String.join(", ", LLAMA_FAMILY.keySet()) + ")");
        }
        Fp8Quantization quantization = Fp8Quantization.parse(config, dir.resolve("config.json").toString());
        int positions = Math.min(maxPositions, config.maxPositionEmbeddings());
        WeightLoader weights = new WeightLoader(Checkpoint.open(dir), quantization, conversion);
        try {
            CausalLanguageModel model = LlamaModel.load(config, variant.apply(config), weights, range, ops, positions);
            try {
                weights.saveQuantized();
            } catch (java.io.IOException | RuntimeException e) {
                System.getLogger(ModelLoader.class.getName()).log(System.Logger.Level.WARNING,
                        "could not save the Q8 copy beside " + dir + " (it will be converted again next time): "
                                + e.getMessage());
            }
            if (progress != null) {
                weights.prefetch(progress);
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
     * experts a step ends up routing to. This is what placing a layer range on a machine must budget for.
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
            return bytes;
        }
    }

    private static Path requireDirectory(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new ModelException("model directory " + dir + " does not exist");
        }
        return dir;
    }
}
