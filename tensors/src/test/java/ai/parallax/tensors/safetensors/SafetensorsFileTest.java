package ai.parallax.tensors.safetensors;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.FloatFormats;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.safetensors.SafetensorsWriter.Entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SafetensorsFileTest {
    @TempDir
    Path dir;

    /** A file with the given header text and {@code dataBytes} zero bytes of data, built byte by byte. */
    private Path raw(String header, int dataBytes) throws IOException {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        return rawWithLength(json.length, json, new byte[dataBytes]);
    }

    private Path rawWithLength(long declaredHeaderLength, byte[]... parts) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        bytes.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(declaredHeaderLength).array());
        for (byte[] part : parts) {
            bytes.write(part);
        }
        Path file = dir.resolve("model.safetensors");
        Files.write(file, bytes.toByteArray());
        return file;
    }

    private static void assertRejected(Path file, String problem) {
        assertThatThrownBy(() -> SafetensorsFile.open(file)).isInstanceOf(SafetensorsException.class)
                .hasMessage(file + ": " + problem);
    }

    private Path twoTensors() throws IOException {
        Path file = dir.resolve("model.safetensors");
        SafetensorsWriter.write(file, List.of(
                Entry.ofFloats("a", DType.F32, new long[] {4}, new float[] {1, 2, 3, 4}),
                Entry.ofFloats("b", DType.F32, new long[] {64}, new float[64])));
        return file;
    }

    @Test
    void readsNamesShapesValuesAndMetadataOfAWrittenFile() throws IOException {
        Path file = dir.resolve("weights.safetensors");
        float[] matrix = {1.5f, -2f, 3.25f, 0f, 1e-3f, -7f};
        SafetensorsWriter.write(file, List.of(
                Entry.ofFloats("z.matrix", DType.F32, new long[] {2, 3}, matrix),
                Entry.ofFloats("a.vector", DType.BF16, new long[] {3}, new float[] {1f, 0.1f, -3f}),
                Entry.ofFloats("m.half", DType.F16, new long[] {2}, new float[] {0.5f, 65504f})), Map.of("format", "pt"));

        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            assertThat(st.tensorNames()).as("file order, not sorted").containsExactly("z.matrix", "a.vector", "m.half");
            assertThat(st.metadata()).containsExactly(Map.entry("format", "pt"));
            assertThat(st.path()).isEqualTo(file);
            TensorInfo info = st.info("a.vector").orElseThrow();
            assertThat(info.dtype()).isEqualTo(DType.BF16);
            assertThat(info.shape()).containsExactly(3);
            assertThat(info.byteSize()).isEqualTo(6);
            assertThat(info.file()).isEqualTo(file);
            long dataStart = Files.size(file) - (24 + 6 + 4);
            assertThat(info.fileOffset()).isEqualTo(dataStart + 24);
            assertThat(st.info("missing")).isEmpty();

            assertThat(st.isMapped()).as("open() reads only the header").isFalse();
            Tensor m = st.tensor("z.matrix");
            assertThat(st.isMapped()).isTrue();
            assertThat(m.shape()).containsExactly(2, 3);
            for (int i = 0; i < matrix.length; i++) {
                assertThat(FloatFormats.readFloat(m, i)).isEqualTo(matrix[i]);
            }
            Tensor v = st.tensor("a.vector");
            assertThat(FloatFormats.readFloat(v, 1)).isEqualTo(FloatFormats.bf16ToFloat(FloatFormats.floatToBf16(0.1f)));
            assertThat(FloatFormats.readFloat(st.tensor("m.half"), 1)).isEqualTo(65504f);
            assertThat(m.data().isReadOnly()).as("weights are a read-only mapping").isTrue();
        }
    }

    @Test
    void acceptsScalarsAndEmptyTensorsAnywhere() throws IOException {
        Path file = raw("""
                {"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},
                 "e":{"dtype":"BF16","shape":[0,8],"data_offsets":[2,2]},
                 "b":{"dtype":"BOOL","shape":[2],"data_offsets":[4,6]}}""", 6);
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            assertThat(st.tensor("s").elementCount()).isEqualTo(1);
            assertThat(st.tensor("e").byteSize()).isZero();
            assertThat(st.metadata()).isEmpty();
        }
    }

    @Test
    void truncatedDataAreaIsRejected() throws IOException {
        Path file = twoTensors();
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            channel.truncate(channel.size() - 10);
        }
        assertRejected(file, "tensor 'b': data_offsets [16, 272] end beyond the data area, which holds 262 bytes"
                + " (file truncated?)");
    }

    @Test
    void headerLengthBeyondTheFileIsRejected() throws IOException {
        Path file = rawWithLength(1000, "{}".getBytes(StandardCharsets.UTF_8), new byte[18]);
        assertRejected(file, "header length 1000 is longer than the 20 bytes that follow the 8-byte length"
                + " (truncated, or not a safetensors file?)");
    }

    @Test
    void headerLengthWithTheTopBitSetIsRejectedAsUnsigned() throws IOException {
        Path file = rawWithLength(-1L, new byte[4]);
        assertRejected(file, "header length 18446744073709551615 is longer than the 4 bytes that follow the 8-byte"
                + " length (truncated, or not a safetensors file?)");
    }

    @Test
    void headerLengthAboveTheLimitIsRejectedWithoutReadingIt() throws IOException {
        Path file = dir.resolve("model.safetensors");
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(8 + 100_000_001L); // sparse: takes no disk space
            f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(100_000_001L).array());
        }
        assertRejected(file, "header length 100000001 is above the limit of 100000000 bytes");
    }

    @Test
    void fileShorterThanTheLengthPrefixIsRejected() throws IOException {
        Path file = dir.resolve("model.safetensors");
        Files.write(file, new byte[] {1, 2, 3, 4, 5});
        assertRejected(file, "only 5 bytes long, too short for the 8-byte header length");
    }

    @Test
    void missingFileIsRejected() {
        assertRejected(dir.resolve("absent.safetensors"), "no such file");
    }

    @Test
    void overlappingTensorsAreRejected() throws IOException {
        Path file = raw("""
                {"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},
                 "c":{"dtype":"F32","shape":[2],"data_offsets":[24,32]},
                 "b":{"dtype":"F32","shape":[4],"data_offsets":[20,36]}}""", 40);
        assertRejected(file, "tensors 'b' (data_offsets [20, 36]) and 'c' (data_offsets [24, 32]) overlap");
    }

    @Test
    void unknownDtypeIsRejectedListingTheSupportedOnes() throws IOException {
        Path file = raw("{\"w\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1);
        assertRejected(file, "tensor 'w': unknown dtype 'F4'; supported: F32, F16, BF16, F8_E4M3, F8_E5M2, I8, U8, I32,"
                + " I64, BOOL");
    }

    @Test
    void byteRangeThatDisagreesWithShapeAndDtypeIsRejected() throws IOException {
        Path file = raw("{\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[64],\"data_offsets\":[0,100]}}", 256);
        assertRejected(file, "tensor 'model.norm.weight': data_offsets [0, 100] hold 100 bytes but shape [64] of F32"
                + " needs 256");
    }

    @Test
    void shapeWhoseByteCountOverflowsIsRejected() throws IOException {
        Path file = raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0);
        assertRejected(file, "tensor 'w': shape [4294967296, 4294967296] of F32 needs more than 2^63 bytes");
    }

    @Test
    void beginAfterEndIsRejected() throws IOException {
        Path file = raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,8]}}", 16);
        assertRejected(file, "tensor 'w': data_offsets [16, 8] begin after end");
    }

    @Test
    void invalidJsonIsRejectedWithItsLocation() throws IOException {
        Path file = raw("{\"w\": {\"dtype\": \"F32\",", 0);
        assertThatThrownBy(() -> SafetensorsFile.open(file)).isInstanceOf(SafetensorsException.class)
                .hasMessageStartingWith(file + ": header is not valid JSON: ")
                .hasMessageContaining("(line 1, column ");
    }

    @Test
    void duplicateTensorNamesAreRejected() throws IOException {
        Path file = raw("""
                {"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                 "w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8);
        assertThatThrownBy(() -> SafetensorsFile.open(file)).isInstanceOf(SafetensorsException.class)
                .hasMessageStartingWith(file + ": header is not valid JSON: Duplicate field 'w'");
    }

    @Test
    void headerThatIsNotUtf8IsRejected() throws IOException {
        Path file = rawWithLength(4, new byte[] {'{', (byte) 0xC3, (byte) 0x28, '}'});
        assertRejected(file, "header is not valid UTF-8");
    }

    @Test
    void headerThatIsNotAnObjectIsRejected() throws IOException {
        assertRejected(raw("[1, 2]", 0), "header must be a JSON object, but is array [1,2]");
    }

    @Test
    void missingOrIllTypedFieldsAreRejected() throws IOException {
        assertRejected(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "tensor 'w': missing 'data_offsets'");
        assertRejected(raw("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4), "tensor 'w': missing 'shape'");
        assertRejected(raw("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "tensor 'w': missing 'dtype'");
        assertRejected(raw("{\"w\":[1]}", 4),
                "tensor 'w': entry must be an object with dtype, shape and data_offsets, but is array [1]");
        assertRejected(raw("{\"w\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
                "tensor 'w': 'dtype' must be a string, but is number 32");
        assertRejected(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,-2],\"data_offsets\":[0,4]}}", 4),
                "tensor 'w': 'shape' must be an array of non-negative integers, but element 1 is number -2");
        assertRejected(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4),
                "tensor 'w': 'shape' must be an array of non-negative integers, but element 0 is number 1.5");
        assertRejected(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", 4),
                "tensor 'w': 'shape' must be an array of non-negative integers, but is string \"1\"");
        assertRejected(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8),
                "tensor 'w': 'data_offsets' must be an array of 2 non-negative integers, but has 3 elements");
        assertRejected(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}}", 4),
                "tensor 'w': 'data_offsets' must be an array of 2 non-negative integers, but element 1 is number"
                        + " 99999999999999999999");
        assertRejected(raw("{\"__metadata__\":{\"n\":3}}", 0), "__metadata__ must map strings to strings, but 'n'"
                + " holds number 3");
        assertRejected(raw("{\"__metadata__\":\"x\"}", 0), "__metadata__ must be an object of strings, but is"
                + " string \"x\"");
    }

    @Test
    void requestingAnAbsentTensorNamesFileAndTensor() throws IOException {
        Path file = twoTensors();
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            assertThatThrownBy(() -> st.tensor("c")).isInstanceOf(SafetensorsException.class)
                    .hasMessage(file + ": no tensor 'c' among its 2 tensors");
            assertThat(st.isMapped()).isFalse();
        }
    }

    @Test
    void closedFileRefusesTensors() throws IOException {
        Path file = twoTensors();
        SafetensorsFile st = SafetensorsFile.open(file);
        Tensor a = st.tensor("a");
        st.close();
        st.close();
        assertThat(st.isMapped()).isFalse();
        assertThatThrownBy(() -> st.tensor("a")).isInstanceOf(SafetensorsException.class)
                .hasMessage(file + ": is closed");
        assertThatThrownBy(() -> FloatFormats.readFloat(a, 0)).as("views die with the mapping")
                .isInstanceOf(IllegalStateException.class);
    }

    @Test
    void fileChangedBetweenOpenAndFirstUseIsDetected() throws IOException {
        Path file = twoTensors();
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            long size = Files.size(file);
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
                channel.truncate(size - 100);
            }
            assertThatThrownBy(() -> st.tensor("a")).isInstanceOf(SafetensorsException.class)
                    .hasMessage(file + ": file is now " + (size - 100) + " bytes, but was " + size
                            + " bytes when its header was read");
        }
    }
}
