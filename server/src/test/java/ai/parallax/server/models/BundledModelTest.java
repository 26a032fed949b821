package ai.parallax.server.models;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BundledModelTest {

    static final Path ORIGINAL = Path.of(System.getProperty("parallax.models"), "stories260K");
    static final List<String> MODEL_FILES = List.of(
            "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json");

    @Test
    void extractedFilesEqualTheSharedOriginalsByteForByte(@TempDir Path cache) throws Exception {
        Path directory = new BundledModel(cache).extract();

        for (String file : MODEL_FILES) {
            assertThat(Files.mismatch(directory.resolve(file), ORIGINAL.resolve(file))).as(file).isEqualTo(-1L);
        }
        assertThat(Files.readString(directory.resolve("README.md"))).contains("MIT license", "karpathy/tinyllamas");
    }

    @Test
    void folderIsNamedAfterTheSha256OfTheWeights(@TempDir Path cache) throws Exception {
        String sha256 = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                .digest(Files.readAllBytes(ORIGINAL.resolve("model.safetensors"))));

        Path directory = new BundledModel(cache).extract();

        assertThat(directory).isEqualTo(cache.resolve("stories260K-" + sha256.substring(0, 12)));
    }

    @Test
    void secondExtractionReusesTheFilesWithoutRewritingThem(@TempDir Path cache) throws Exception {
        BundledModel bundled = new BundledModel(cache);
        Path first = bundled.extract();
        List<BasicFileAttributes> before = attributes(first);

        Path second = bundled.extract();

        assertThat(second).isEqualTo(first);
        List<BasicFileAttributes> after = attributes(second);
        for (int i = 0; i < before.size(); i++) {
            assertThat(after.get(i).fileKey()).isEqualTo(before.get(i).fileKey());
            assertThat(after.get(i).lastModifiedTime()).isEqualTo(before.get(i).lastModifiedTime());
        }
        assertThat(listNames(cache)).containsExactly(first.getFileName().toString());
    }

    @Test
    void concurrentExtractionsAgreeOnOneCompleteCopy(@TempDir Path cache) throws Exception {
        int racers = 8;
        CountDownLatch start = new CountDownLatch(1);
        List<Future<Path>> results = new ArrayList<>();
        try (ExecutorService pool = Executors.newFixedThreadPool(racers)) {
            for (int i = 0; i < racers; i++) {
                Callable<Path> racer = () -> {
                    start.await();
                    return new BundledModel(cache).extract();
                };
                results.add(pool.submit(racer));
            }
            start.countDown();
            Set<Path> directories = new HashSet<>();
            for (Future<Path> result : results) {
                directories.add(result.get());
            }
            assertThat(directories).hasSize(1);
            Path directory = directories.iterator().next();
            for (String file : MODEL_FILES) {
                assertThat(Files.mismatch(directory.resolve(file), ORIGINAL.resolve(file))).as(file).isEqualTo(-1L);
            }
            // The losers' staging folders are gone.
            assertThat(listNames(cache)).containsExactly(directory.getFileName().toString());
        }
    }

    private static List<BasicFileAttributes> attributes(Path directory) throws Exception {
        List<BasicFileAttributes> attributes = new ArrayList<>();
        for (String file : BundledModel.FILES) {
            attributes.add(Files.readAttributes(directory.resolve(file), BasicFileAttributes.class));
        }
        return attributes;
    }

    private static List<String> listNames(Path directory) throws Exception {
        try (Stream<Path> children = Files.list(directory)) {
            return children.map(path -> path.getFileName().toString()).toList();
        }
    }
}
