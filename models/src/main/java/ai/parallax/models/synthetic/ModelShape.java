package ai.parallax.models.synthetic;

import ai.parallax.models.ModelException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The dimensions of a published model, enough to write a checkpoint of the same size and layout with random
 * weights. The figures are those of each model's own config.json on the Hugging Face hub.
 *
 * @param name              the name {@code parallax synth --shape} accepts
 * @param modelType         config.json {@code model_type}: llama, qwen3 or qwen3_moe
 * @param tokenizerName     the folder under the shared models directory whose tokenizer fits this vocabulary
 * @param experts           routed experts per layer (0 for a dense MLP)
 * @param expertsPerToken   experts each token is routed to
 * @param expertIntermediate width of one expert's MLP
 */
public record ModelShape(String name, String modelType, String tokenizerName, int hiddenSize, int intermediateSize,
                         int numLayers, int numHeads, int numKeyValueHeads, int headDim, int vocabSize,
                         double ropeTheta, Llama3Rope llama3Rope, int maxPositionEmbeddings, double rmsNormEps,
                         boolean tieWordEmbeddings, int bosTokenId, int eosTokenId, int experts,
                         int expertsPerToken, int expertIntermediate) {

    /** Llama 3.1's rope_scaling block: {@code rope_type "llama3"} with these factors. */
    public record Llama3Rope(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {
    }

    private static final Map<String, ModelShape> SHAPES = new LinkedHashMap<>();

    static {
        Llama3Rope llama31 = new Llama3Rope(8.0, 1.0, 4.0, 8192);
        Llama3Rope llama32 = new Llama3Rope(32.0, 1.0, 4.0, 8192);
        add(new ModelShape("llama-3.2-1b", "llama", "tokenizer-llama3_1", 2048, 8192, 16, 32, 8, 64, 128256,
                500000.0, llama32, 131072, 1e-5, true, 128000, 128001, 0, 0, 0));
        add(new ModelShape("llama-3.1-8b", "llama", "tokenizer-llama3_1", 4096, 14336, 32, 32, 8, 128, 128256,
                500000.0, llama31, 131072, 1e-5, false, 128000, 128001, 0, 0, 0));
        add(new ModelShape("qwen3-0.6b", "qwen3", "tokenizer-qwen3", 1024, 3072, 28, 16, 8, 128, 151936,
                1000000.0, null, 40960, 1e-6, true, 151643, 151645, 0, 0, 0));
        add(new ModelShape("qwen3-1.7b", "qwen3", "tokenizer-qwen3", 2048, 6144, 28, 16, 8, 128, 151936,
                1000000.0, null, 40960, 1e-6, true, 151643, 151645, 0, 0, 0));
        add(new ModelShape("qwen3-8b", "qwen3", "tokenizer-qwen3", 4096, 12288, 36, 32, 8, 128, 151936,
                1000000.0, null, 40960, 1e-6, false, 151643, 151645, 0, 0, 0));
        add(new ModelShape("qwen3-30b-a3b", "qwen3_moe", "tokenizer-qwen3", 2048, 6144, 48, 32, 4, 128, 151936,
                1000000.0, null, 40960, 1e-6, false, 151643, 151645, 128, 8, 768));
        // Not published models: a Llama and a Qwen3-MoE small enough for tests, sized for the stories260K
        // tokenizer (512 tokens).
        add(new ModelShape("tiny", "llama", "stories260K", 64, 176, 2, 4, 2, 16, 512,
                10000.0, null, 2048, 1e-5, true, 1, 2, 0, 0, 0));
        add(new ModelShape("tiny-moe", "qwen3_moe", "stories260K", 64, 128, 2, 4, 2, 16, 512,
                1000000.0, null, 2048, 1e-6, false, 1, 2, 8, 2, 32));
    }

    private static void add(ModelShape shape) {
        SHAPES.put(shape.name(), shape);
    }

    /** The shape called {@code name}. */
    public static ModelShape named(String name) {
        ModelShape shape = SHAPES.get(name);
        if (shape == null) {
            throw new ModelException("unknown model shape \"" + name + "\" (known: " + String.join(", ", names())
                    + ")");
        }
        return shape;
    }

    /** Every known shape name, in a stable order. */
    public static List<String> names() {
        return List.copyOf(SHAPES.keySet());
    }

    /** The first {@code layers} decoder layers only: one pipeline stage's slice, as a model of its own. */
    public ModelShape withLayers(int layers) {
        if (layers < 1 || layers > numLayers) {
            throw new ModelException("layers " + layers + " is outside [1, " + numLayers + "] for shape " + name);
        }
        return new ModelShape(name, modelType, tokenizerName, hiddenSize, intermediateSize, layers, numHeads,
                numKeyValueHeads, headDim, vocabSize, ropeTheta, llama3Rope, maxPositionEmbeddings, rmsNormEps,
                tieWordEmbeddings, bosTokenId, eosTokenId, experts, expertsPerToken, expertIntermediate);
    }

    public boolean isMixtureOfExperts() {
        return experts > 0;
    }

    public int queryWidth() {
        return numHeads * headDim;
    }

    public int keyValueWidth() {
        return numKeyValueHeads * headDim;
    }

    /** Parameters of the whole model, embeddings and norms included (a tied lm_head counted once). */
    public long parameterCount() {
        long hidden = hiddenSize;
        long attention = hidden * queryWidth() * 2L + hidden * keyValueWidth() * 2L;
        long norms = 2 * hidden + ("qwen3".equals(modelType) || "qwen3_moe".equals(modelType) ? 2L * headDim : 0);
        long mlp = isMixtureOfExperts()
                ? (long) experts * 3 * hidden * expertIntermediate + (long) experts * hidden
                : 3 * hidden * intermediateSize;
        long embeddings = (long) vocabSize * hidden * (tieWordEmbeddings ? 1 : 2);
        return numLayers * (attention + norms + mlp) + embeddings + hidden;
    }
}
