package ai.parallax.tensors.safetensors;

import ai.parallax.tensors.Tensor;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The weights of a model directory, as Hugging Face lays them out: either shards listed by
 * {@value SafetensorsWriter#INDEX_FILE} (whose {@code weight_map} names each tensor's shard), or a single
 * {@value #SINGLE_FILE}, or else every {@code *.safetensors} file in the directory.
 *
 * <p>{@link #open} reads and validates every shard's header, so that a broken checkpoint fails at once with a precise
 * message, but maps no data. A shard is mapped only when one of its tensors is first requested: a pipeline stage
 * that asks only for the tensors of its layers never maps or reads the bytes of shards holding other layers.
 *
 * <p>Tensors are views over the mappings and become unusable after {@link #close()}. Safe for concurrent use.
 */
public final class Checkpoint implements AutoCloseable {
    /** The name of an unsharded checkpoint's weights file. */
    public static final String SINGLE_FILE = "model.safetensors";

    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private final Path directory;
    private final List<SafetensorsFile> files;
    private final Map<String, SafetensorsFile> fileOfTensor;

    private Checkpoint(Path directory, List<SafetensorsFile> files, Map<String, SafetensorsFile> fileOfTensor) {
        this.directory = directory;
        this.files = List.copyOf(files);
        this.fileOfTensor = Collections.unmodifiableMap(fileOfTensor);
    }

    /**
     * Opens the checkpoint in {@code directory}, validating the index (if any) and every shard's header.
     *
     * @throws SafetensorsException if the directory holds no safetensors, or the index or a shard is broken or
     *                              inconsistent
     */
    public static Checkpoint open(Path directory) {
        if (!Files.isDirectory(directory)) {
            throw new SafetensorsException(directory + ": " + (Files.exists(directory) ? "not a directory"
                    : "no such directory"));
        }
        List<SafetensorsFile> opened = new ArrayList<>();
        try {
            Path index = directory.resolve(SafetensorsWriter.INDEX_FILE);
            Map<String, SafetensorsFile> fileOfTensor;
            if (Files.exists(index)) {
                fileOfTensor = openIndexed(directory, index, opened);
            } else if (Files.exists(directory.resolve(SINGLE_FILE))) {
                fileOfTensor = openUnindexed(directory, List.of(directory.resolve(SINGLE_FILE)), opened);
            } else {
                List<Path> found = safetensorsFiles(directory);
                if (found.isEmpty()) {
                    throw new SafetensorsException("no " + SINGLE_FILE + ", " + SafetensorsWriter.INDEX_FILE
                            + " or *.safetensors in " + directory);
                }
                fileOfTensor = openUnindexed(directory, found, opened);
            }
            return new Checkpoint(directory, opened, fileOfTensor);
        } catch (RuntimeException e) {
            opened.forEach(SafetensorsFile::close);
            throw e;
        }
    }

    private static List<Path> safetensorsFiles(Path directory) {
        List<Path> found = new ArrayList<>();
        try (DirectoryStream<Path> stream = Files.newDirectoryStream(directory, "*.safetensors")) {
            for (Path p : stream) {
                if (Files.isRegularFile(p)) {
                    found.add(p);
                }
            }
        } catch (IOException e) {
            throw new SafetensorsException(directory + ": cannot list: " + e.getMessage(), e);
        }
        // Directory order is arbitrary; name order makes tensorNames() reproducible (and follows shard numbering).
        found.sort(Comparator.comparing(p -> p.getFileName().toString()));
        return found;
    }

    private static Map<String, SafetensorsFile> openUnindexed(Path directory, List<Path> paths,
                                                              List<SafetensorsFile> opened) {
        Map<String, SafetensorsFile> fileOfTensor = new LinkedHashMap<>();
        for (Path path : paths) {
            SafetensorsFile file = SafetensorsFile.open(path);
            opened.add(file);
            for (String name : file.tensorNames()) {
                SafetensorsFile previous = fileOfTensor.putIfAbsent(name, file);
                if (previous != null) {
                    throw new SafetensorsException(directory + ": tensor '" + name + "' is in both "
                            + previous.path().getFileName() + " and " + path.getFileName());
                }
            }
        }
        return fileOfTensor;
    }

    /**
     * The index is the table of contents: the checkpoint holds exactly the tensors its weight_map names, each read
     * from the shard named there. Tensors a shard holds beyond those are not part of the checkpoint.
     */
    private static Map<String, SafetensorsFile> openIndexed(Path directory, Path index, List<SafetensorsFile> opened) {
        Map<String, String> weightMap = readWeightMap(index);
        Path root = directory.toAbsolutePath().normalize();
        Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : weightMap.entrySet()) {
            String shardName = e.getValue();
            if (shards.containsKey(shardName)) {
                continue;
            }
            Path shard = directory.resolve(shardName);
            // A shard name is a file name in the directory; anything reaching outside it is a broken or hostile index.
            if (!shard.toAbsolutePath().normalize().startsWith(root) || Path.of(shardName).isAbsolute()) {
                throw new SafetensorsException(index + ": tensor '" + e.getKey() + "': shard '" + shardName
                        + "' is outside " + directory);
            }
            if (!Files.isRegularFile(shard)) {
                throw new SafetensorsException(index + ": tensor '" + e.getKey() + "': shard '" + shardName
                        + "' does not exist in " + directory);
            }
            SafetensorsFile file = SafetensorsFile.open(shard);
            opened.add(file);
            shards.put(shardName, file);
        }
        Map<String, SafetensorsFile> fileOfTensor = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : weightMap.entrySet()) {
            SafetensorsFile file = shards.get(e.getValue());
            if (file.info(e.getKey()).isEmpty()) {
                String actual = shards.values().stream().filter(f -> f.info(e.getKey()).isPresent())
                        .map(f -> "; it is in '" + f.path().getFileName() + "'").findFirst()
                        .orElse("; no shard holds it");
                throw new SafetensorsException(index + ": tensor '" + e.getKey() + "': index names shard '"
                        + e.getValue() + "', which does not hold it" + actual);
            }
            fileOfTensor.put(e.getKey(), file);
        }
        return fileOfTensor;
    }

    private static Map<String, String> readWeightMap(Path index) {
        JsonNode root;
        try {
            root = JSON.readTree(index.toFile());
        } catch (JsonProcessingException e) {
            throw new SafetensorsException(index + ": not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new SafetensorsException(index + ": cannot read: " + e.getMessage(), e);
        }
        JsonNode weightMap = root == null ? null : root.get("weight_map");
        if (weightMap == null || !weightMap.isObject()) {
            throw new SafetensorsException(index + ": needs a 'weight_map' object mapping tensor names to shard files");
        }
        Map<String, String> result = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : weightMap.properties()) {
            if (!e.getValue().isTextual()) {
                throw new SafetensorsException(index + ": tensor '" + e.getKey() + "': weight_map must give a shard "
                        + "file name, but gives " + e.getValue());
            }
            result.put(e.getKey(), e.getValue().textValue());
        }
        if (result.isEmpty()) {
            throw new SafetensorsException(index + ": weight_map names no tensors");
        }
        return result;
    }

    /** The model directory. */
    public Path directory() {
        return directory;
    }

    /** All tensor names: in index order for an indexed checkpoint, else in file order (files sorted by name). */
    public Set<String> tensorNames() {
        return fileOfTensor.keySet();
    }

    public boolean contains(String name) {
        return fileOfTensor.containsKey(name);
    }

    /** Where tensor {@code name} lives (its shard file included), without touching its bytes. */
    public Optional<TensorInfo> info(String name) {
        SafetensorsFile file = fileOfTensor.get(name);
        return file == null ? Optional.empty() : file.info(name);
    }

    /**
     * A view of tensor {@code name} over its memory-mapped shard, mapping that shard (only) on first use.
     *
     * @throws SafetensorsException if the checkpoint has no such tensor or the shard cannot be mapped
     */
    public Tensor tensor(String name) {
        return fileFor(name).tensor(name);
    }

    /** Total bytes of the named tensors: what holding them costs in memory. Maps nothing. */
    public long byteSize(Collection<String> names) {
        long total = 0;
        for (String name : names) {
            total += fileFor(name).info(name).orElseThrow().byteSize();
        }
        return total;
    }

    private SafetensorsFile fileFor(String name) {
        SafetensorsFile file = fileOfTensor.get(name);
        if (file == null) {
            throw new SafetensorsException(directory + ": no tensor '" + name + "' in this checkpoint of "
                    + fileOfTensor.size() + " tensors");
        }
        return file;
    }

    /** The safetensors files this checkpoint reads, in index order (or name order without an index). */
    public List<Path> shardFiles() {
        return files.stream().map(SafetensorsFile::path).toList();
    }

    /** The shard files memory-mapped so far; for tests and diagnostics of which weights a process touches. */
    public List<Path> mappedShardFiles() {
        return files.stream().filter(SafetensorsFile::isMapped).map(SafetensorsFile::path).toList();
    }

    /** Unmaps every shard; tensors obtained from this checkpoint must not be used afterwards. */
    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
    }

    @Override
    public String toString() {
        return "Checkpoint[" + directory + ", " + fileOfTensor.size() + " tensors in " + files.size() + " files]";
    }
}
