package ai.parallax.server.models;

import ai.parallax.server.UserError;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * The default model shipped inside parallax.jar: karpathy's stories260K (MIT), in Hugging Face layout.
 *
 * <p>Model loading memory-maps its files, which needs a real file, not a jar entry. So {@link #extract()} copies the
 * files once into a cache folder named after the weights' SHA-256 ({@code stories260K-<12 hex digits>}): a jar with
 * different weights gets a different folder and never sees stale files.
 */
public final class BundledModel {

    public static final String NAME = "stories260K";

    /** The files under {@code ai/parallax/server/models/stories260K/} on the class path. */
    public static final List<String> FILES = List.of(
            "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "README.md");

    private static final String WEIGHTS = "model.safetensors";
    private static final int ID_HEX_DIGITS = 12;

    private final Path cacheRoot;

    /** @param cacheRoot the folder that holds extracted models, e.g. {@code ~/.cache/parallax/models} */
    public BundledModel(Path cacheRoot) {
        this.cacheRoot = cacheRoot;
    }

    /** Extracts under {@code $XDG_CACHE_HOME/parallax/models}, or {@code ~/.cache/parallax/models}. */
    public static BundledModel inUserCache() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path cacheHome = xdg != null && !xdg.isBlank() && Path.of(xdg).isAbsolute()
                ? Path.of(xdg)
                : Path.of(System.getProperty("user.home"), ".cache");
        return new BundledModel(cacheHome.resolve("parallax").resolve("models"));
    }

    /**
     * Returns the folder holding the model's files, copying them there first if no earlier run has.
     *
     * <p>Safe when several processes start at once: each writes into its own hidden staging folder and renames it
     * into place atomically; whoever loses the race drops its copy and uses the winner's, which is identical.
     */
    public Path extract() {
        Path target = cacheRoot.resolve(NAME + "-" + contentId());
        if (Files.isDirectory(target)) {
            return checkComplete(target);
        }
        Path staging = null;
        try {
            Files.createDirectories(cacheRoot);
            staging = Files.createTempDirectory(cacheRoot, "." + target.getFileName() + "-partial-");
            for (String file : FILES) {
                try (InputStream in = open(file)) {
                    Files.copy(in, staging.resolve(file));
                }
            }
            try {
                Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
                staging = null;
            } catch (IOException e) {
                // Another process renamed its copy into place first (rename onto a non-empty folder fails).
                if (!Files.isDirectory(target)) {
                    throw e;
                }
            }
            return checkComplete(target);
        } catch (IOException e) {
            throw new UserError("cannot extract the bundled model " + NAME + " into " + cacheRoot + ": " + e
                    + " (set XDG_CACHE_HOME to a writable folder)", e);
        } finally {
            if (staging != null) {
                deleteQuietly(staging);
            }
        }
    }

    /** The first 12 hex digits of the SHA-256 of the bundled {@code model.safetensors}. */
    public static String contentId() {
        return ContentId.VALUE;
    }

    /** Computed once per JVM: hashing the 1 MB of weights takes a few milliseconds. */
    private static final class ContentId {
        static final String VALUE = computeContentId();
    }

    private static String computeContentId() {
        try (DigestInputStream in = new DigestInputStream(open(WEIGHTS), MessageDigest.getInstance("SHA-256"))) {
            in.transferTo(OutputStream.nullOutputStream());
            return HexFormat.of().formatHex(in.getMessageDigest().digest()).substring(0, ID_HEX_DIGITS);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the bundled " + WEIGHTS, e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK provides SHA-256", e);
        }
    }

    private static InputStream open(String file) {
        InputStream in = BundledModel.class.getResourceAsStream(NAME + "/" + file);
        if (in == null) {
            throw new IllegalStateException("bundled model file missing from the class path: "
                    + BundledModel.class.getPackageName().replace('.', '/') + "/" + NAME + "/" + file);
        }
        return in;
    }

    private static Path checkComplete(Path directory) {
        for (String file : FILES) {
            if (!Files.isRegularFile(directory.resolve(file))) {
                throw new UserError("the extracted bundled model in " + directory + " lacks " + file
                        + "; delete that folder and retry");
            }
        }
        return directory;
    }

    private static void deleteQuietly(Path directory) {
        try (Stream<Path> paths = Files.walk(directory)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        } catch (IOException e) {
            // A leftover hidden staging folder wastes 1 MB but breaks nothing.
        }
    }
}
