package ai.parallax.runtime;

import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.LayerRange;
import ai.parallax.models.LoadProgress;
import ai.parallax.models.ModelException;
import ai.parallax.models.ModelLoader;
import ai.parallax.models.WeightQuantization;
import ai.parallax.models.config.GenerationConfig;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.models.tokenizer.Tokenizer;
import ai.parallax.runtime.engine.EngineConfig;
import ai.parallax.runtime.engine.InferenceEngine;
import ai.parallax.runtime.engine.LocalStepRunner;
import ai.parallax.tensors.ops.Ops;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * Everything needed to run a model directory on this machine: the whole model, its tokenizer and its stop tokens.
 */
public record LocalModel(Path directory, CausalLanguageModel model, Tokenizer tokenizer,
                         GenerationConfig generationConfig) implements AutoCloseable {

    /**
     * Opens {@code dir} for sequences of up to {@code maxPositions} tokens (capped by the model's own limit). With a
     * {@code progress} listener, the weights are paged in before this returns.
     */
    public static LocalModel open(Path dir, Ops ops, int maxPositions, LoadProgress progress) {
        return open(dir, ops, maxPositions, progress, WeightQuantization.NONE);
    }

    /** As {@link #open(Path, Ops, int, LoadProgress)}, holding the linear weights as {@code quantization} says. */
    public static LocalModel open(Path dir, Ops ops, int maxPositions, LoadProgress progress,
                                  WeightQuantization quantization) {
        ModelConfig config = ModelConfig.read(dir);
        Tokenizer tokenizer;
        try {
            tokenizer = Tokenizer.load(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        GenerationConfig generation = GenerationConfig.read(dir, config);
        if (tokenizer.vocabularySize() > config.vocabSize()) {
            throw new ModelException(dir + ": the tokenizer has " + tokenizer.vocabularySize()
                    + " tokens but the model's vocab_size is " + config.vocabSize());
        }
        CausalLanguageModel model = ModelLoader.load(dir, config, ops, LayerRange.all(config.numLayers()),
                maxPositions, progress, quantization);
        return new LocalModel(dir, model, tokenizer, generation);
    }

    /** A generator over this model. */
    public Generator generator(Ops ops) {
        return new Generator(model, ops, tokenizer, generationConfig.eosTokenIds());
    }

    /**
     * A started serving engine over this model: a paged KV pool of {@code config.blockCount()} blocks, continuous
     * batching. Closing the engine frees the pool; the model stays open.
     */
    public InferenceEngine newEngine(Ops ops, EngineConfig config) {
        return new InferenceEngine(new LocalStepRunner(model, ops, config.blockCount(), config.blockSize(),
                config.maxRunning()), tokenizer,
                generationConfig.eosTokenIds(), config).start();
    }

    @Override
    public void close() {
        model.close();
    }
}
