package ai.parallax.tensors.safetensors;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.FloatFormats;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.safetensors.SafetensorsWriter.Entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class CheckpointTest {
    @TempDir
    Path dir;

    /** Values of every tensor written, to compare what is read back against. */
    private final Map<String, float[]> written = new LinkedHashMap<>();
    private final Random random = new Random(42);

    private Entry floats(String name, long... shape) {
        float[] values = new float[(int) Tensor.elementCount(shape)];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        written.put(name, values);
        return Entry.ofFloats(name, DType.F32, shape, values);
    }

    /** A two-layer model split into three shards: embeddings, layer 0, layer 1 with the final norm. */
    private List<Path> writeThreeShards() throws IOException {
        return SafetensorsWriter.writeSharded(dir, List.of(
                List.of(floats("model.embed_tokens.weight", 16, 8)),
                List.of(floats("model.layers.0.mlp.up_proj.weight", 12, 8),
                        floats("model.layers.0.input_layernorm.weight", 8)),
                List.of(floats("model.layers.1.mlp.up_proj.weight", 12, 8),
                        floats("model.layers.1.input_layernorm.weight", 8),
                        floats("model.norm.weight", 8))), Map.of("format", "pt"));
    }

    private static void assertValues(Tensor tensor, float[] expected) {
        assertThat(tensor.elementCount()).isEqualTo(expected.length);
        for (int i = 0; i < expected.length; i++) {
            assertThat(FloatFormats.readFloat(tensor, i)).as("%s[%d]", tensor.name(), i).isEqualTo(expected[i]);
        }
    }

    @Test
    void shardedCheckpointReadsBackEveryTensorFromItsShard() throws IOException {
        List<Path> shards = writeThreeShards();
        assertThat(shards).extracting(p -> p.getFileName().toString()).containsExactly(
                "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                "model-00003-of-00003.safetensors");

        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            assertThat(checkpoint.directory()).isEqualTo(dir);
            assertThat(checkpoint.tensorNames()).containsExactlyElementsOf(written.keySet());
            assertThat(checkpoint.shardFiles()).containsExactlyElementsOf(shards);
            for (Map.Entry<String, float[]> e : written.entrySet()) {
                assertThat(checkpoint.contains(e.getKey())).isTrue();
                assertValues(checkpoint.tensor(e.getKey()), e.getValue());
            }
            assertThat(checkpoint.info("model.layers.1.input_layernorm.weight").orElseThrow().file())
                    .isEqualTo(shards.get(2));
            assertThat(checkpoint.byteSize(List.of("model.embed_tokens.weight", "model.norm.weight")))
                    .isEqualTo((16 * 8 + 8) * 4L);
            assertThat(checkpoint.contains("lm_head.weight")).isFalse();
            assertThat(checkpoint.info("lm_head.weight")).isEmpty();
        }
    }

    @Test
    void openingMapsNothingAndATensorMapsOnlyItsShard() throws IOException {
        List<Path> shards = writeThreeShards();
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            assertThat(checkpoint.mappedShardFiles()).isEmpty();
            assertThat(checkpoint.byteSize(checkpoint.tensorNames())).isPositive();
            assertThat(checkpoint.mappedShardFiles()).as("byteSize reads headers only").isEmpty();

            // A pipeline stage holding layer 1 asks only for layer 1's weights.
            checkpoint.tensor("model.layers.1.mlp.up_proj.weight");
            assertThat(checkpoint.mappedShardFiles()).containsExactly(shards.get(2));
            checkpoint.tensor("model.norm.weight");
            assertThat(checkpoint.mappedShardFiles()).containsExactly(shards.get(2));
            checkpoint.tensor("model.embed_tokens.weight");
            assertThat(checkpoint.mappedShardFiles()).containsExactly(shards.get(0), shards.get(2));
        }
    }

    @Test
    void indexNamingAMissingShardIsRejected() throws IOException {
        List<Path> shards = writeThreeShards();
        Files.delete(shards.get(1));
        assertThatThrownBy(() -> Checkpoint.open(dir)).isInstanceOf(SafetensorsException.class)
                .hasMessage(dir.resolve(SafetensorsWriter.INDEX_FILE) + ": tensor 'model.layers.0.mlp.up_proj.weight':"
                        + " shard 'model-00002-of-00003.safetensors' does not exist in " + dir);
    }

    @Test
    void indexNamingTheWrongShardForATensorIsRejected() throws IOException {
        writeThreeShards();
        Path index = dir.resolve(SafetensorsWriter.INDEX_FILE);
        String text = Files.readString(index).replace(
                "\"model.norm.weight\" : \"model-00003-of-00003.safetensors\"",
                "\"model.norm.weight\" : \"model-00001-of-00003.safetensors\"");
        Files.writeString(index, text);
        assertThatThrownBy(() -> Checkpoint.open(dir)).isInstanceOf(SafetensorsException.class)
                .hasMessage(index + ": tensor 'model.norm.weight': index names shard 'model-00001-of-00003.safetensors',"
                        + " which does not hold it; it is in 'model-00003-of-00003.safetensors'");
    }

    @Test
    void indexNamingAShardOutsideTheDirectoryIsRejected() throws IOException {
        Path index = dir.resolve(SafetensorsWriter.INDEX_FILE);
        Files.writeString(index, "{\"weight_map\": {\"w\": \"../elsewhere.safetensors\"}}");
        assertThatThrownBy(() -> Checkpoint.open(dir)).isInstanceOf(SafetensorsException.class)
                .hasMessage(index + ": tensor 'w': shard '../elsewhere.safetensors' is outside " + dir);
    }

    @Test
    void indexWithoutAWeightMapIsRejected() throws IOException {
        Path index = dir.resolve(SafetensorsWriter.INDEX_FILE);
        Files.writeString(index, "{\"metadata\": {}}");
        assertThatThrownBy(() -> Checkpoint.open(dir)).isInstanceOf(SafetensorsException.class)
                .hasMessage(index + ": needs a 'weight_map' object mapping tensor names to shard files");
    }

    @Test
    void brokenShardIsReportedByItsOwnPath() throws IOException {
        List<Path> shards = writeThreeShards();
        Files.write(shards.get(2), new byte[] {1, 2});
        assertThatThrownBy(() -> Checkpoint.open(dir)).isInstanceOf(SafetensorsException.class)
                .hasMessage(shards.get(2) + ": only 2 bytes long, too short for the 8-byte header length");
    }

    @Test
    void requestingAnAbsentTensorNamesTheDirectory() throws IOException {
        writeThreeShards();
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            assertThatThrownBy(() -> checkpoint.tensor("lm_head.weight")).isInstanceOf(SafetensorsException.class)
                    .hasMessage(dir + ": no tensor 'lm_head.weight' in this checkpoint of 6 tensors");
            assertThatThrownBy(() -> checkpoint.byteSize(List.of("model.norm.weight", "lm_head.weight")))
                    .isInstanceOf(SafetensorsException.class)
                    .hasMessage(dir + ": no tensor 'lm_head.weight' in this checkpoint of 6 tensors");
        }
    }

    @Test
    void singleModelFileIsUsedWithoutAnIndex() throws IOException {
        SafetensorsWriter.write(dir.resolve("model.safetensors"), List.of(floats("a", 3), floats("b", 2)));
        // A stray file beside model.safetensors is not part of the checkpoint.
        SafetensorsWriter.write(dir.resolve("adapter.safetensors"), List.of(floats("lora.a", 2)));
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            assertThat(checkpoint.tensorNames()).containsExactly("a", "b");
            assertValues(checkpoint.tensor("b"), written.get("b"));
        }
    }

    @Test
    void everySafetensorsFileIsUsedWithoutIndexOrModelFile() throws IOException {
        SafetensorsWriter.write(dir.resolve("part-b.safetensors"), List.of(floats("y", 2)));
        SafetensorsWriter.write(dir.resolve("part-a.safetensors"), List.of(floats("x", 3)));
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            assertThat(checkpoint.tensorNames()).as("files in name order").containsExactly("x", "y");
            assertValues(checkpoint.tensor("y"), written.get("y"));
        }
    }

    @Test
    void tensorInTwoUnindexedFilesIsRejected() throws IOException {
        SafetensorsWriter.write(dir.resolve("part-a.safetensors"), List.of(floats("x", 3)));
        SafetensorsWriter.write(dir.resolve("part-b.safetensors"), List.of(floats("x", 3)));
        assertThatThrownBy(() -> Checkpoint.open(dir)).isInstanceOf(SafetensorsException.class)
                .hasMessage(dir + ": tensor 'x' is in both part-a.safetensors and part-b.safetensors");
    }

    @Test
    void directoryWithoutSafetensorsIsRejected() throws IOException {
        Files.writeString(dir.resolve("config.json"), "{}");
        assertThatThrownBy(() -> Checkpoint.open(dir)).isInstanceOf(SafetensorsException.class)
                .hasMessage("no model.safetensors, model.safetensors.index.json or *.safetensors in " + dir);
        assertThatThrownBy(() -> Checkpoint.open(dir.resolve("absent"))).isInstanceOf(SafetensorsException.class)
                .hasMessage(dir.resolve("absent") + ": no such directory");
    }

    @Test
    void writtenIndexRecordsTotalSizeAndWeightMap() throws IOException {
        writeThreeShards();
        String index = Files.readString(dir.resolve(SafetensorsWriter.INDEX_FILE));
        long total = 0;
        for (float[] values : written.values()) {
            total += values.length * 4L;
        }
        assertThat(index).contains("\"total_size\" : " + total)
                .contains("\"model.embed_tokens.weight\" : \"model-00001-of-00003.safetensors\"");
    }
}
