package ai.parallax.server.dashboard;

import ai.parallax.models.KvCache;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.tensors.safetensors.SafetensorsFile;
import ai.parallax.tensors.safetensors.TensorInfo;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Describes model folders for the setup page: architecture, parameter count, dtype, size on disk and an estimate of
 * the memory serving takes. It reads only {@code config.json} and the safetensors headers, never the weights, so
 * listing a folder of large models stays fast.
 */
public final class ModelCatalog {
    /** Block size used for the KV part of the estimate; the default of {@code serve --kv-block-size}. */
    private static final int ESTIMATE_BLOCK_SIZE = 16;
    /** The estimate's context: one sequence this long, capped by the model's own limit. */
    private static final int ESTIMATE_CONTEXT = 8192;

    private static final ObjectMapper JSON = new ObjectMapper();

    private ModelCatalog() {
    }

    /** Every direct sub-folder of {@code modelsDir} holding a {@code config.json}, by id. */
    public static List<ClusterModels.ModelInfo> scan(Path modelsDir) {
        if (!Files.isDirectory(modelsDir)) {
            throw new IllegalArgumentException("the models folder " + modelsDir + " does not exist or is not a folder");
        }
        try (Stream<Path> children = Files.list(modelsDir)) {
            return children.filter(dir -> Files.isRegularFile(dir.resolve("config.json")))
                    .sorted(Comparator.comparing(dir -> dir.getFileName().toString()))
                    .map(ModelCatalog::describe)
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list the models folder " + modelsDir, e);
        }
    }

    /** Describes one model folder; a folder Parallax cannot serve gets {@code problem} set instead of an error. */
    public static ClusterModels.ModelInfo describe(Path dir) {
        String id = dir.getFileName().toString();
        long disk = diskBytes(dir);
        JsonNode raw;
        try {
            raw = JSON.readTree(dir.resolve("config.json").toFile());
        } catch (IOException e) {
            return new ClusterModels.ModelInfo(id, dir.toString(), null, null, 0, 0, 0, null, disk, 0,
                    "config.json is not readable JSON: " + e.getMessage());
        }
        String architecture = raw.path("architectures").path(0).asText(null);
        String modelType = raw.path("model_type").asText(null);
        long parameters = 0;
        long weightBytes = 0;
        Map<String, Long> bytesByDtype = new HashMap<>();
        String problem = null;
        List<Path> files = safetensorsFiles(dir);
        if (files.isEmpty()) {
            problem = "no .safetensors file in " + dir;
        }
        for (Path file : files) {
            try (SafetensorsFile st = SafetensorsFile.open(file)) {
                for (TensorInfo t : st.infos()) {
                    long elements = 1;
                    for (long d : t.shape()) {
                        elements *= d;
                    }
                    parameters += elements;
                    weightBytes += t.byteSize();
                    bytesByDtype.merge(t.dtype().safetensorsName(), t.byteSize(), Long::sum);
                }
            } catch (RuntimeException e) {
                problem = file.getFileName() + ": " + e.getMessage();
            }
        }
        String dtype = bytesByDtype.entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey)
                .orElse(raw.path("torch_dtype").asText(null));
        int layers = raw.path("num_hidden_layers").asInt(0);
        int context = raw.path("max_position_embeddings").asInt(0);
        long estimate = weightBytes;
        try {
            ModelConfig config = ModelConfig.parse(raw, dir.resolve("config.json").toString());
            int positions = Math.min(ESTIMATE_CONTEXT, config.maxPositionEmbeddings());
            long blocks = (positions + ESTIMATE_BLOCK_SIZE - 1) / ESTIMATE_BLOCK_SIZE;
            estimate += blocks * KvCache.bytesPerBlock(config.numLayers(), ESTIMATE_BLOCK_SIZE,
                    config.keyValueWidth());
        } catch (RuntimeException e) {
            if (problem == null) {
                problem = "unsupported config: " + e.getMessage();
            }
        }
        return new ClusterModels.ModelInfo(id, dir.toString(), architecture, modelType, layers, context, parameters,
                dtype, disk, estimate, problem);
    }

    private static List<Path> safetensorsFiles(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(f -> f.getFileName().toString().endsWith(".safetensors")).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    private static long diskBytes(Path dir) {
        List<Long> sizes = new ArrayList<>();
        try (Stream<Path> files = Files.walk(dir)) {
            files.filter(Files::isRegularFile).forEach(f -> {
                try {
                    sizes.add(Files.size(f));
                } catch (IOException ignored) {
                    // A file that vanished while listing does not count.
                }
            });
        } catch (IOException e) {
            return 0;
        }
        return sizes.stream().mapToLong(Long::longValue).sum();
    }
}
