package ai.parallax.tensors.safetensors;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.Tensor;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * One safetensors file: an 8-byte little-endian header length N, N bytes of UTF-8 JSON describing each tensor
 * ({@code dtype}, {@code shape}, {@code data_offsets} relative to the data area) and optional string
 * {@code __metadata__}, then the data area holding the tensors' bytes.
 *
 * <p>{@link #open} reads and validates only the header: every dtype, shape and byte range is checked, and no two
 * tensors may share bytes, so that a later {@link #tensor} cannot fail on a malformed file or read out of bounds.
 * The data area is memory-mapped read-only on the first {@link #tensor} call and never copied into the Java heap;
 * until then the file's bytes beyond the header are never read. A process that only needs some tensors (a pipeline
 * stage holding a range of layers) therefore touches only the pages of those tensors.
 *
 * <p>Tensors returned by {@link #tensor} are views over the mapping and become unusable after {@link #close()}.
 * This class is safe for concurrent use.
 */
public final class SafetensorsFile implements AutoCloseable {
    /**
     * Largest header accepted. The reference implementation uses the same bound; a real header for a model with
     * hundreds of thousands of tensors is a few MB, and a larger length means the file is not safetensors at all.
     */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    static final String METADATA_KEY = "__metadata__";

    private static final JsonMapper JSON = JsonMapper.builder()
            // Two entries for one tensor would make the header ambiguous; the last one would silently win.
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private final Path path;
    private final long fileSize;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    // Guarded by this: the mapping is created once, on first use, and released by close().
    private Arena arena;
    private MemorySegment mapping;
    private boolean closed;

    private SafetensorsFile(Path path, long fileSize, Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.path = path;
        this.fileSize = fileSize;
        this.tensors = Collections.unmodifiableMap(tensors);
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    /**
     * Reads and validates the header of {@code path}; does not read or map the data area.
     *
     * @throws SafetensorsException if the file cannot be read or its header is malformed or inconsistent
     */
    public static SafetensorsFile open(Path path) {
        if (Files.isDirectory(path)) {
            throw error(path, "is a directory, not a safetensors file");
        }
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long fileSize = channel.size();
            if (fileSize < 8) {
                throw error(path, "only " + fileSize + " bytes long, too short for the 8-byte header length");
            }
            ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, prefix, 0);
            long headerLength = prefix.getLong(0);
            // The length is an unsigned 64-bit value; as a signed long, values above 2^63 are negative.
            if (headerLength < 0 || headerLength > fileSize - 8) {
                throw error(path, "header length " + Long.toUnsignedString(headerLength) + " is longer than the "
                        + (fileSize - 8) + " bytes that follow the 8-byte length (truncated, or not a safetensors file?)");
            }
            if (headerLength > MAX_HEADER_BYTES) {
                throw error(path, "header length " + headerLength + " is above the limit of " + MAX_HEADER_BYTES
                        + " bytes");
            }
            ByteBuffer header = ByteBuffer.allocate((int) headerLength);
            readFully(channel, header, 8);
            String json;
            try {
                json = StandardCharsets.UTF_8.newDecoder().decode(header.flip()).toString();
            } catch (CharacterCodingException e) {
                throw error(path, "header is not valid UTF-8");
            }
            return parseHeader(path, fileSize, headerLength, json);
        } catch (NoSuchFileException e) {
            throw error(path, "no such file");
        } catch (IOException e) {
            throw new SafetensorsException(path + ": cannot read: " + e.getMessage(), e);
        }
    }

    private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, position + buffer.position());
            if (n < 0) {
                throw new EOFException("file ended while reading the header");
            }
        }
    }

    private static SafetensorsFile parseHeader(Path path, long fileSize, long headerLength, String json) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation();
            String where = at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
            throw error(path, "header is not valid JSON: " + e.getOriginalMessage() + where);
        }
        if (root == null || root.isMissingNode()) {
            throw error(path, "header is empty");
        }
        if (!root.isObject()) {
            throw error(path, "header must be a JSON object, but is " + describe(root));
        }

        long dataStart = 8 + headerLength;
        long dataSize = fileSize - dataStart;
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            String name = field.getKey();
            JsonNode entry = field.getValue();
            if (name.equals(METADATA_KEY)) {
                parseMetadata(path, entry, metadata);
            } else {
                tensors.put(name, parseTensor(path, name, entry, dataStart, dataSize));
            }
        }
        checkNoOverlap(path, tensors.values(), dataStart);
        return new SafetensorsFile(path, fileSize, tensors, metadata);
    }

    private static void parseMetadata(Path path, JsonNode node, Map<String, String> metadata) {
        if (!node.isObject()) {
            throw error(path, METADATA_KEY + " must be an object of strings, but is " + describe(node));
        }
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            if (!e.getValue().isTextual()) {
                throw error(path, METADATA_KEY + " must map strings to strings, but '" + e.getKey() + "' holds "
                        + describe(e.getValue()));
            }
            metadata.put(e.getKey(), e.getValue().textValue());
        }
    }

    private static TensorInfo parseTensor(Path path, String name, JsonNode node, long dataStart, long dataSize) {
        if (!node.isObject()) {
            throw error(path, name, "entry must be an object with dtype, shape and data_offsets, but is "
                    + describe(node));
        }
        JsonNode dtypeNode = required(path, name, node, "dtype");
        if (!dtypeNode.isTextual()) {
            throw error(path, name, "'dtype' must be a string, but is " + describe(dtypeNode));
        }
        DType dtype = DType.fromSafetensorsName(dtypeNode.textValue()).orElseThrow(() -> error(path, name,
                "unknown dtype '" + dtypeNode.textValue() + "'; supported: "
                        + Arrays.stream(DType.values()).map(DType::safetensorsName).collect(Collectors.joining(", "))));

        long[] shape = nonNegativeIntegers(path, name, required(path, name, node, "shape"), "shape", -1);
        long[] offsets = nonNegativeIntegers(path, name, required(path, name, node, "data_offsets"), "data_offsets", 2);
        long begin = offsets[0];
        long end = offsets[1];
        String range = "data_offsets [" + begin + ", " + end + "]";
        if (begin > end) {
            throw error(path, name, range + " begin after end");
        }
        long needed;
        try {
            needed = Math.multiplyExact(Tensor.elementCount(shape), dtype.byteSize());
        } catch (ArithmeticException e) {
            throw error(path, name, "shape " + Arrays.toString(shape) + " of " + dtype + " needs more than 2^63 bytes");
        }
        if (end - begin != needed) {
            throw error(path, name, range + " hold " + (end - begin) + " bytes but shape " + Arrays.toString(shape)
                    + " of " + dtype + " needs " + needed);
        }
        if (end > dataSize) {
            throw error(path, name, range + " end beyond the data area, which holds " + dataSize
                    + " bytes (file truncated?)");
        }
        return new TensorInfo(name, dtype, shape, dataStart + begin, needed, path);
    }

    private static JsonNode required(Path path, String tensor, JsonNode entry, String field) {
        JsonNode value = entry.get(field);
        if (value == null) {
            throw error(path, tensor, "missing '" + field + "'");
        }
        return value;
    }

    /** Reads a JSON array of non-negative 64-bit integers; {@code length} -1 accepts any length. */
    private static long[] nonNegativeIntegers(Path path, String tensor, JsonNode node, String field, int length) {
        String expected = length < 0 ? "an array of non-negative integers"
                : "an array of " + length + " non-negative integers";
        if (!node.isArray()) {
            throw error(path, tensor, "'" + field + "' must be " + expected + ", but is " + describe(node));
        }
        if (length >= 0 && node.size() != length) {
            throw error(path, tensor, "'" + field + "' must be " + expected + ", but has " + node.size()
                    + " elements");
        }
        long[] values = new long[node.size()];
        for (int i = 0; i < values.length; i++) {
            JsonNode element = node.get(i);
            if (!element.isIntegralNumber() || !element.canConvertToLong() || element.longValue() < 0) {
                throw error(path, tensor, "'" + field + "' must be " + expected + ", but element " + i + " is "
                        + describe(element));
            }
            values[i] = element.longValue();
        }
        return values;
    }

    private static void checkNoOverlap(Path path, Iterable<TensorInfo> tensors, long dataStart) {
        List<TensorInfo> byOffset = new ArrayList<>();
        for (TensorInfo t : tensors) {
            // An empty tensor occupies no bytes, so it cannot overlap anything wherever its offsets point.
            if (t.byteSize() > 0) {
                byOffset.add(t);
            }
        }
        byOffset.sort(Comparator.comparingLong(TensorInfo::fileOffset));
        for (int i = 1; i < byOffset.size(); i++) {
            TensorInfo previous = byOffset.get(i - 1);
            TensorInfo current = byOffset.get(i);
            if (current.fileOffset() < previous.fileOffset() + previous.byteSize()) {
                throw error(path, "tensors '" + previous.name() + "' (" + offsets(previous, dataStart) + ") and '"
                        + current.name() + "' (" + offsets(current, dataStart) + ") overlap");
            }
        }
    }

    private static String offsets(TensorInfo t, long dataStart) {
        long begin = t.fileOffset() - dataStart;
        return "data_offsets [" + begin + ", " + (begin + t.byteSize()) + "]";
    }

    private static String describe(JsonNode node) {
        String text = node.toString();
        if (text.length() > 60) {
            text = text.substring(0, 57) + "...";
        }
        return node.getNodeType().name().toLowerCase(java.util.Locale.ROOT) + " " + text;
    }

    private static SafetensorsException error(Path path, String problem) {
        return new SafetensorsException(path + ": " + problem);
    }

    private static SafetensorsException error(Path path, String tensor, String problem) {
        return new SafetensorsException(path + ": tensor '" + tensor + "': " + problem);
    }

    /** The file this was opened from. */
    public Path path() {
        return path;
    }

    /** Size of the file in bytes, as validated by {@link #open}. */
    public long fileSize() {
        return fileSize;
    }

    /** Names of all tensors, in the order of the header. */
    public Set<String> tensorNames() {
        return tensors.keySet();
    }

    /** Where tensor {@code name} lives, without touching its bytes; empty if the file has no such tensor. */
    public Optional<TensorInfo> info(String name) {
        return Optional.ofNullable(tensors.get(name));
    }

    /** All tensors' descriptions, in the order of the header. */
    public List<TensorInfo> infos() {
        return List.copyOf(tensors.values());
    }

    /** The header's {@code __metadata__} (empty if it has none), such as {@code format=pt}. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /**
     * A view of tensor {@code name} over the memory-mapped file; maps the file on first use. The view is valid until
     * {@link #close()}.
     *
     * @throws SafetensorsException if there is no such tensor, the file is closed, or it cannot be mapped
     */
    public Tensor tensor(String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw new SafetensorsException(path + ": no tensor '" + name + "' among its " + tensors.size()
                    + " tensors");
        }
        MemorySegment bytes = mapping().asSlice(info.fileOffset(), info.byteSize());
        return new Tensor(name, info.dtype(), info.shape(), bytes);
    }

    /** Whether the data area is memory-mapped yet: false until the first {@link #tensor} call. */
    public synchronized boolean isMapped() {
        return mapping != null;
    }

    private synchronized MemorySegment mapping() {
        if (closed) {
            throw error(path, "is closed");
        }
        if (mapping == null) {
            try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
                // Offsets were validated against the size seen by open(); a file replaced or truncated since then
                // would let a view reach past the end of the mapping.
                long size = channel.size();
                if (size != fileSize) {
                    throw error(path, "file is now " + size + " bytes, but was " + fileSize
                            + " bytes when its header was read");
                }
                Arena newArena = Arena.ofShared();
                try {
                    mapping = channel.map(FileChannel.MapMode.READ_ONLY, 0, fileSize, newArena);
                } catch (IOException | RuntimeException e) {
                    newArena.close();
                    throw e;
                }
                arena = newArena;
            } catch (IOException e) {
                throw new SafetensorsException(path + ": cannot memory-map: " + e.getMessage(), e);
            }
        }
        return mapping;
    }

    /** Unmaps the file; tensors obtained from it must not be used afterwards. Closing twice is harmless. */
    @Override
    public synchronized void close() {
        closed = true;
        if (arena != null) {
            arena.close();
            arena = null;
            mapping = null;
        }
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + path + ", " + tensors.size() + " tensors]";
    }
}
