package ai.parallax.tensors.safetensors;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.FloatFormats;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.safetensors.SafetensorsWriter.Entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SafetensorsWriterTest {
    @TempDir
    Path dir;

    @Test
    void writesTheExactBytesTheFormatSpecifies() throws IOException {
        Path file = dir.resolve("one.safetensors");
        SafetensorsWriter.write(file, List.of(Entry.ofFloats("x", DType.F32, new long[] {2}, new float[] {1f, -2f})));

        // Expected file built by hand: u64 LE header length, JSON padded with spaces to a multiple of 8, data.
        String json = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        int padded = (json.length() + 7) / 8 * 8;
        ByteArrayOutputStream expected = new ByteArrayOutputStream();
        expected.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
        expected.write((json + " ".repeat(padded - json.length())).getBytes(StandardCharsets.US_ASCII));
        expected.write(new byte[] {0, 0, (byte) 0x80, 0x3F, 0, 0, 0, (byte) 0xC0});
        assertThat(Files.readAllBytes(file)).isEqualTo(expected.toByteArray());
        assertThat(Files.list(dir)).as("no temporary file left").containsExactly(file);
    }

    @Test
    void headerIsPaddedSoDataStartsEightByteAligned() throws IOException {
        for (int nameLength = 1; nameLength <= 9; nameLength++) {
            Path file = dir.resolve("f" + nameLength + ".safetensors");
            String name = "n".repeat(nameLength);
            SafetensorsWriter.write(file, List.of(Entry.ofFloats(name, DType.BF16, new long[] {1}, new float[] {1f})),
                    Map.of("format", "pt"));
            try (SafetensorsFile st = SafetensorsFile.open(file)) {
                assertThat(st.info(name).orElseThrow().fileOffset() % 8).as("data start for name length %d",
                        nameLength).isZero();
                assertThat(st.metadata()).containsEntry("format", "pt");
            }
        }
    }

    @Test
    void copiesTensorsFromAnotherCheckpointByteForByte() throws IOException {
        Path source = dir.resolve("source.safetensors");
        float[] values = {0.25f, 8f, -1.5f, 3f, 100f, -0.125f};
        SafetensorsWriter.write(source, List.of(Entry.ofFloats("w", DType.F16, new long[] {2, 3}, values)));
        Path copy = dir.resolve("copy.safetensors");
        try (SafetensorsFile in = SafetensorsFile.open(source)) {
            SafetensorsWriter.write(copy, List.of(Entry.of(in.tensor("w"))));
        }
        assertThat(Files.readAllBytes(copy)).isEqualTo(Files.readAllBytes(source));
        try (SafetensorsFile in = SafetensorsFile.open(copy)) {
            Tensor w = in.tensor("w");
            for (int i = 0; i < values.length; i++) {
                assertThat(FloatFormats.readFloat(w, i)).isEqualTo(values[i]);
            }
        }
    }

    @Test
    void sourceWritingTheWrongByteCountFailsAndLeavesNoFile() {
        Path file = dir.resolve("bad.safetensors");
        Entry shortEntry = new Entry("w", DType.F32, new long[] {4}, SafetensorsWriter.TensorBytes.of(new byte[12]));
        assertThatThrownBy(() -> SafetensorsWriter.write(file, List.of(shortEntry)))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage(file + ": tensor 'w': wrote 12 bytes but shape [4] of F32 needs 16");
        assertThat(dir).isEmptyDirectory();
    }

    @Test
    void duplicateAndReservedNamesAreRefused() {
        Path file = dir.resolve("bad.safetensors");
        Entry a = Entry.ofFloats("a", DType.F32, new long[] {1}, new float[1]);
        assertThatThrownBy(() -> SafetensorsWriter.write(file, List.of(a, a)))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("tensor 'a' appears twice");
        Entry reserved = Entry.ofFloats("__metadata__", DType.F32, new long[] {1}, new float[1]);
        assertThatThrownBy(() -> SafetensorsWriter.write(file, List.of(reserved)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("'__metadata__' is reserved and cannot name a tensor");
        assertThatThrownBy(() -> Entry.ofFloats("v", DType.F32, new long[] {2, 2}, new float[3]))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("tensor 'v': 3 values for shape [2, 2]");
        assertThat(dir).isEmptyDirectory();
    }

    @Test
    void streamsTensorsLargerThanItsChunkFromAGenerator() throws IOException {
        // 3 MiB + 4 bytes of BF16 produced chunk by chunk: element i holds the finite bf16 code i mod 0x7F00.
        long elements = (3L << 20) / 2 + 2;
        SafetensorsWriter.TensorBytes generator = out -> {
            ByteBuffer chunk = ByteBuffer.allocate(64 * 1024).order(ByteOrder.LITTLE_ENDIAN);
            for (long i = 0; i < elements; i++) {
                if (!chunk.hasRemaining()) {
                    SafetensorsWriter.writeFully(out, chunk.flip());
                    chunk.clear();
                }
                chunk.putShort((short) (i % 0x7F00));
            }
            SafetensorsWriter.writeFully(out, chunk.flip());
        };
        Path file = dir.resolve("big.safetensors");
        SafetensorsWriter.write(file, List.of(new Entry("big", DType.BF16, new long[] {elements}, generator),
                Entry.ofFloats("tail", DType.F32, new long[] {1}, new float[] {7f})));
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            Tensor big = st.tensor("big");
            for (long i : new long[] {0, 1, 0x7EFF, 0x7F00, 1_000_003, elements - 1}) {
                assertThat(FloatFormats.readFloat(big, i)).isEqualTo(FloatFormats.bf16ToFloat((short) (i % 0x7F00)));
            }
            assertThat(FloatFormats.readFloat(st.tensor("tail"), 0)).isEqualTo(7f);
        }
    }
}
