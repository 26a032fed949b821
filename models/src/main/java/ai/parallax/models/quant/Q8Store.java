package ai.parallax.models.quant;

import ai.parallax.tensors.BlockScales;
import ai.parallax.tensors.DType;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.quant.Q8Weights;
import ai.parallax.tensors.safetensors.Checkpoint;
import ai.parallax.tensors.safetensors.SafetensorsException;
import ai.parallax.tensors.safetensors.SafetensorsFile;
import ai.parallax.tensors.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * The Q8 copy of a model's linear weights, saved beside the model as {@value #DIRECTORY}/{@value #FILE} so a later
 * load maps it instead of requantising. Each weight is stored under its own name as I8, with its scales under
 * {@code <name>.q8_scales} as F32.
 *
 * <p>The file records which checkpoint it came from (each shard's name, size and modification time). A copy whose
 * source no longer matches is stale and ignored, then replaced.
 */
public final class Q8Store implements AutoCloseable {
    public static final String DIRECTORY = "parallax-q8";
    public static final String FILE = "model.safetensors";
    private static final String FORMAT_KEY = "parallax_format";
    private static final String FORMAT = "q8-block32";
    private static final String SOURCE_KEY = "parallax_source";

    private final Path file;
    private final String source;
    private final SafetensorsFile saved;

    private Q8Store(Path file, String source, SafetensorsFile saved) {
        this.file = file;
        this.source = source;
        this.saved = saved;
    }

    /** The store of the model in {@code checkpoint}'s directory; its saved copy is opened when it is current. */
    public static Q8Store of(Checkpoint checkpoint) {
        Path file = checkpoint.directory().resolve(DIRECTORY).resolve(FILE);
        String source = fingerprint(checkpoint);
        SafetensorsFile saved = null;
        if (Files.isRegularFile(file)) {
            try {
                SafetensorsFile opened = SafetensorsFile.open(file);
                Map<String, String> meta = opened.metadata();
                if (FORMAT.equals(meta.get(FORMAT_KEY)) && source.equals(meta.get(SOURCE_KEY))) {
                    saved = opened;
                } else {
                    opened.close();
                }
            } catch (SafetensorsException e) {
                // A broken copy (an interrupted write leaves none, but a disk may fail) is simply rebuilt.
                saved = null;
            }
        }
        return new Q8Store(file, source, saved);
    }

    /** Where the copy lives. */
    public Path file() {
        return file;
    }

    /** Whether a current saved copy was found. */
    public boolean isSaved() {
        return saved != null;
    }

    /** The saved Q8 form of weight {@code name}, or null when the copy lacks it (or there is no copy). */
    public Tensor find(String name, long rows, long cols) {
        String scalesName = name + ".q8_scales";
        if (saved == null || !saved.tensorNames().contains(name) || !saved.tensorNames().contains(scalesName)) {
            return null;
        }
        Tensor q = saved.tensor(name);
        Tensor scales = saved.tensor(scalesName);
        if (q.dtype() != DType.I8 || q.dim(0) != rows || q.dim(1) != cols) {
            return null;
        }
        return q.withBlockScales(new BlockScales(scales, 1, Q8Weights.BLOCK));
    }

    /** Writes {@code weights} (Q8 tensors) as the model's saved copy, replacing any stale one. */
    public void save(Collection<Tensor> weights) throws IOException {
        List<SafetensorsWriter.Entry> entries = new ArrayList<>();
        for (Tensor w : weights) {
            entries.add(new SafetensorsWriter.Entry(w.name(), DType.I8, w.shape(),
                    SafetensorsWriter.TensorBytes.of(w.data())));
            Tensor scales = w.blockScales().scales();
            entries.add(new SafetensorsWriter.Entry(w.name() + ".q8_scales", scales.dtype(), scales.shape(),
                    SafetensorsWriter.TensorBytes.of(scales.data())));
        }
        Files.createDirectories(file.getParent());
        SafetensorsWriter.write(file, entries, Map.of(FORMAT_KEY, FORMAT, SOURCE_KEY, source));
    }

    private static String fingerprint(Checkpoint checkpoint) {
        StringBuilder s = new StringBuilder();
        for (Path shard : checkpoint.shardFiles()) {
            try {
                s.append(shard.getFileName()).append(':').append(Files.size(shard)).append(':')
                        .append(Files.getLastModifiedTime(shard).toMillis()).append(';');
            } catch (IOException e) {
                s.append(shard.getFileName()).append(":?;");
            }
        }
        return s.toString();
    }

    @Override
    public void close() {
        if (saved != null) {
            saved.close();
        }
    }
}
