package ai.parallax.tensors.safetensors;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.FloatFormats;
import ai.parallax.tensors.Tensor;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Writes safetensors files by streaming: the header first (all offsets follow from the entries' dtypes and shapes),
 * then each tensor's bytes in order, pulled from its {@link TensorBytes} source. No more than one chunk of a tensor
 * is held in memory, so files of many GB can be generated.
 *
 * <p>A file is written under a temporary name and moved into place only when complete, so a failed or interrupted
 * write never leaves a truncated checkpoint behind.
 */
public final class SafetensorsWriter {
    /** Name of the shard index that {@link Checkpoint} looks for, as Hugging Face writes it. */
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private static final int CHUNK_BYTES = 1 << 20;
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private SafetensorsWriter() {
    }

    /** Produces a tensor's bytes, little-endian and row-major, when the writer reaches it. */
    @FunctionalInterface
    public interface TensorBytes {
        /** Writes exactly the tensor's byte size to {@code out}. */
        void writeTo(WritableByteChannel out) throws IOException;

        /** The bytes of a segment (heap, off-heap or mapped), written in chunks. */
        static TensorBytes of(MemorySegment segment) {
            return out -> {
                for (long offset = 0; offset < segment.byteSize(); offset += CHUNK_BYTES) {
                    long length = Math.min(CHUNK_BYTES, segment.byteSize() - offset);
                    writeFully(out, segment.asSlice(offset, length).asByteBuffer());
                }
            };
        }

        /**
         * Leaves the tensor's bytes unwritten, a hole that reads as zeros (a sparse file where the file system has
         * them): for checkpoints whose layout, not their values, is under test, which then cost no disk.
         */
        TensorBytes HOLE = out -> {
            throw new IllegalStateException("a hole is skipped by the writer, never written");
        };

        static TensorBytes of(byte[] bytes) {
            return of(MemorySegment.ofArray(bytes));
        }

        /** Floats converted to {@code dtype} (F32, F16 or BF16; both narrow ones round to nearest even). */
        static TensorBytes ofFloats(DType dtype, float[] values) {
            if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16) {
                throw new IllegalArgumentException("cannot convert floats to " + dtype + "; use F32, F16 or BF16");
            }
            return out -> {
                ByteBuffer chunk = ByteBuffer.allocate(Math.min(CHUNK_BYTES, values.length * dtype.byteSize()))
                        .order(ByteOrder.LITTLE_ENDIAN);
                for (float v : values) {
                    if (chunk.remaining() < dtype.byteSize()) {
                        writeFully(out, chunk.flip());
                        chunk.clear();
                    }
                    switch (dtype) {
                        case F32 -> chunk.putFloat(v);
                        case F16 -> chunk.putShort(FloatFormats.floatToF16(v));
                        default -> chunk.putShort(FloatFormats.floatToBf16(v));
                    }
                }
                writeFully(out, chunk.flip());
            };
        }
    }

    /** One tensor to write. */
    public record Entry(String name, DType dtype, long[] shape, TensorBytes bytes) {
        public Entry {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(dtype, "dtype");
            Objects.requireNonNull(bytes, "bytes");
            shape = shape.clone();
        }

        /** Bytes the tensor occupies: element count times element size. */
        public long byteSize() {
            return Math.multiplyExact(Tensor.elementCount(shape), dtype.byteSize());
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        /** An entry holding floats, stored as {@code dtype} (F32, F16 or BF16). */
        public static Entry ofFloats(String name, DType dtype, long[] shape, float[] values) {
            if (Tensor.elementCount(shape) != values.length) {
                throw new IllegalArgumentException("tensor '" + name + "': " + values.length
                        + " values for shape " + Arrays.toString(shape));
            }
            return new Entry(name, dtype, shape, TensorBytes.ofFloats(dtype, values));
        }

        /** An entry copying an existing tensor's bytes (for example, from another checkpoint). */
        public static Entry of(Tensor tensor) {
            return new Entry(tensor.name(), tensor.dtype(), tensor.shape(), TensorBytes.of(tensor.data()));
        }
    }

    /**
     * Writes a safetensors file holding {@code entries} in order, with {@code metadata} as its {@code __metadata__}
     * (omitted when empty). The header is padded with spaces to a multiple of 8 bytes so that the data area starts
     * 8-byte aligned, as the format allows.
     *
     * @throws IllegalArgumentException if two entries share a name or a name is {@code __metadata__}
     * @throws IllegalStateException if a {@link TensorBytes} writes more or fewer bytes than its shape needs
     */
    public static void write(Path file, List<Entry> entries, Map<String, String> metadata) throws IOException {
        byte[] header = header(entries, metadata);
        Path partial = file.resolveSibling(file.getFileName() + ".partial");
        boolean complete = false;
        try (FileChannel channel = FileChannel.open(partial, StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
            writeFully(channel, prefix);
            writeFully(channel, ByteBuffer.wrap(header));
            for (Entry entry : entries) {
                if (entry.bytes() == TensorBytes.HOLE) {
                    channel.position(channel.position() + entry.byteSize());
                    continue;
                }
                // The source sees only a counting, non-closable channel: it cannot seek, close or skip the check.
                CountingChannel counter = new CountingChannel(channel);
                entry.bytes().writeTo(counter);
                long written = counter.count;
                if (written != entry.byteSize()) {
                    throw new IllegalStateException(file + ": tensor '" + entry.name() + "': wrote " + written
                            + " bytes but shape " + Arrays.toString(entry.shape) + " of " + entry.dtype()
                            + " needs " + entry.byteSize());
                }
            }
            if (channel.size() < channel.position()) {
                // Holes at the end: the file must still be as long as its header says.
                channel.write(ByteBuffer.allocate(1), channel.position() - 1);
            }
            complete = true;
        } finally {
            if (!complete) {
                Files.deleteIfExists(partial);
            }
        }
        Files.move(partial, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** {@link #write(Path, List, Map)} without metadata. */
    public static void write(Path file, List<Entry> entries) throws IOException {
        write(file, entries, Map.of());
    }

    /**
     * Writes a sharded checkpoint into {@code directory}: one file {@code model-0000i-of-0000n.safetensors} per
     * element of {@code shards} (each with {@code metadata}), and {@value #INDEX_FILE} mapping every tensor to its
     * shard, with the total tensor byte size under {@code metadata.total_size}, as Hugging Face writes it.
     *
     * @return the shard files, in order
     */
    public static List<Path> writeSharded(Path directory, List<List<Entry>> shards, Map<String, String> metadata)
            throws IOException {
        Files.createDirectories(directory);
        ObjectNode weightMap = JSON.createObjectNode();
        long totalSize = 0;
        List<Path> files = new ArrayList<>();
        for (int i = 0; i < shards.size(); i++) {
            String shardName = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
            for (Entry entry : shards.get(i)) {
                if (weightMap.has(entry.name())) {
                    throw new IllegalArgumentException("tensor '" + entry.name() + "' is in two shards: "
                            + weightMap.get(entry.name()).textValue() + " and " + shardName);
                }
                weightMap.put(entry.name(), shardName);
                totalSize += entry.byteSize();
            }
            Path file = directory.resolve(shardName);
            write(file, shards.get(i), metadata);
            files.add(file);
        }
        ObjectNode index = JSON.createObjectNode();
        index.putObject("metadata").put("total_size", totalSize);
        index.set("weight_map", weightMap);
        Files.write(directory.resolve(INDEX_FILE), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(index));
        return files;
    }

    static byte[] header(List<Entry> entries, Map<String, String> metadata) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = root.putObject(SafetensorsFile.METADATA_KEY);
            metadata.forEach(meta::put);
        }
        Set<String> names = new HashSet<>();
        long offset = 0;
        for (Entry entry : entries) {
            if (entry.name().equals(SafetensorsFile.METADATA_KEY)) {
                throw new IllegalArgumentException("'" + SafetensorsFile.METADATA_KEY
                        + "' is reserved and cannot name a tensor");
            }
            if (!names.add(entry.name())) {
                throw new IllegalArgumentException("tensor '" + entry.name() + "' appears twice");
            }
            long end = offset + entry.byteSize();
            ObjectNode node = root.putObject(entry.name());
            node.put("dtype", entry.dtype().safetensorsName());
            ArrayNode shape = node.putArray("shape");
            for (long d : entry.shape) {
                shape.add(d);
            }
            node.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json = JSON.writeValueAsString(root).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) & ~7;
        byte[] header = Arrays.copyOf(json, padded);
        Arrays.fill(header, json.length, padded, (byte) ' ');
        return header;
    }

    private static final class CountingChannel implements WritableByteChannel {
        private final WritableByteChannel target;
        private long count;

        CountingChannel(WritableByteChannel target) {
            this.target = target;
        }

        @Override
        public int write(ByteBuffer src) throws IOException {
            int n = target.write(src);
            count += n;
            return n;
        }

        @Override
        public boolean isOpen() {
            return target.isOpen();
        }

        @Override
        public void close() {
            // The writer owns the file; a source closing it would break every later tensor.
        }
    }

    static void writeFully(WritableByteChannel out, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            out.write(buffer);
        }
    }
}
