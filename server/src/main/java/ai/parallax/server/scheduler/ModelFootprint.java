package ai.parallax.server.scheduler;

import ai.parallax.models.LayerProfile;
import ai.parallax.models.gptoss.GptOssModel;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.tensors.safetensors.Checkpoint;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * What a model costs in memory, per piece a pipeline stage may hold: each decoder layer (its weights plus the KV
 * cache reserved for it), the token embedding (first stage) and the final norm with the LM head (last stage).
 *
 * @param layers          decoder layers
 * @param layerBytes      weight bytes of the largest layer (layers of one model differ only by rounding, if at all)
 * @param kvBytesPerLayer cache reserved per layer on every stage (the largest layer's: KV or latent per position,
 *                        or sliding rings and linear-attention state per running sequence)
 * @param embeddingBytes  token embedding, held by the first stage
 * @param headBytes       final norm and LM head, held by the last stage (a tied head is the embedding again)
 */
public record ModelFootprint(int layers, long layerBytes, long kvBytesPerLayer, long embeddingBytes, long headBytes) {
    public ModelFootprint {
        if (layers <= 0 || layerBytes < 0 || kvBytesPerLayer < 0 || embeddingBytes < 0 || headBytes < 0) {
            throw new IllegalArgumentException("invalid model footprint: " + layers + " layers of " + layerBytes
                    + " bytes, KV " + kvBytesPerLayer + ", embedding " + embeddingBytes + ", head " + headBytes);
        }
    }

    /** The same model with {@code copies} times the cache reserve per layer: stages that hold several engines' KV. */
    public ModelFootprint withKvCopies(int copies) {
        if (copies < 1) {
            throw new IllegalArgumentException("KV copies must be >= 1, got " + copies);
        }
        return new ModelFootprint(layers, layerBytes, Math.multiplyExact(kvBytesPerLayer, (long) copies),
                embeddingBytes, headBytes);
    }

    /** Memory one layer takes on a stage: its weights and its share of the KV reserve. */
    public long bytesPerLayer() {
        return layerBytes + kvBytesPerLayer;
    }

    /** Memory one whole copy of the model takes: every layer, the embedding and the head. */
    public long wholeModelBytes() {
        return layers * bytesPerLayer() + embeddingBytes + headBytes;
    }

    /**
     * Reads the sizes from the checkpoint's tensor headers (nothing is mapped), reserving KV for
     * {@code kvPositions} positions per layer and no per-sequence state.
     */
    public static ModelFootprint of(Path dir, ModelConfig config, long kvPositions) {
        return of(dir, config, kvPositions, 0);
    }

    /**
     * Reads the sizes from the checkpoint's tensor headers (nothing is mapped). Each layer's reserve is what a stage
     * really allocates for it: a layer whose cache grows with the context (full attention, DeepSeek's MLA latent)
     * takes its cache bytes per position for {@code kvPositions} positions; a sliding-window layer keeps a ring of
     * rows per running sequence instead; a linear-attention layer keeps a fixed state per running sequence and
     * nothing per position. Weights and reserve are those of the largest layer, so a stage boundary may fall
     * anywhere whatever the layers' types.
     *
     * @param sequences how many sequences a stage keeps state for at once ({@code --max-running})
     */
    public static ModelFootprint of(Path dir, ModelConfig config, long kvPositions, int sequences) {
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            Set<String> names = checkpoint.tensorNames();
            long largestLayer = 0;
            for (int layer = 0; layer < config.numLayers(); layer++) {
                String prefix = "model.layers." + layer + ".";
                List<String> of = new ArrayList<>();
                for (String n : names) {
                    if (n.startsWith(prefix)) {
                        of.add(n);
                    }
                }
                largestLayer = Math.max(largestLayer, checkpoint.byteSize(of));
            }
            long embedding = checkpoint.byteSize(List.of("model.embed_tokens.weight"));
            long head = (names.contains("lm_head.weight") ? checkpoint.byteSize(List.of("lm_head.weight")) : embedding)
                    + (names.contains("model.norm.weight") ? checkpoint.byteSize(List.of("model.norm.weight")) : 0);
            long reserve = 0;
            for (int layer = 0; layer < config.numLayers(); layer++) {
                reserve = Math.max(reserve, cacheReserve(LayerProfile.of(config, layer), config, kvPositions,
                        sequences));
            }
            return new ModelFootprint(config.numLayers(), largestLayer, reserve, embedding, head);
        }
    }

    /** The cache one layer of this profile takes on a stage, as the stage's KV cache allocates it. */
    static long cacheReserve(LayerProfile profile, ModelConfig config, long kvPositions, int sequences) {
        long perSequence = profile.stateBytesPerSequence();
        long perPosition = 0;
        if (profile.window() > 0) {
            perSequence += (long) GptOssModel.ringRows(profile.window(), config.maxPositionEmbeddings())
                    * profile.cacheBytesPerPosition();
        } else {
            perPosition = profile.cacheBytesPerPosition();
        }
        return perPosition * kvPositions + perSequence * sequences;
    }
}
