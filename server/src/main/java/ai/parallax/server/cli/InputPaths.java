package ai.parallax.server.cli;

import ai.parallax.server.UserError;
import java.nio.file.Files;
import java.nio.file.Path;

/** Checks on paths named on the command line, failing with a message that names the option's role and the path. */
final class InputPaths {

    private InputPaths() {
    }

    static Path existingDirectory(Path directory, String role) {
        if (!Files.exists(directory)) {
            throw new UserError(role + " not found: " + directory.toAbsolutePath());
        }
        if (!Files.isDirectory(directory)) {
            throw new UserError(role + " is not a directory: " + directory.toAbsolutePath());
        }
        return directory;
    }

    static Path existingFile(Path file, String role) {
        if (!Files.exists(file)) {
            throw new UserError(role + " not found: " + file.toAbsolutePath());
        }
        if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
            throw new UserError(role + " is not a readable file: " + file.toAbsolutePath());
        }
        return file;
    }

    /** A model directory in Hugging Face layout: config.json beside the weights and tokenizer. */
    static Path modelDirectory(Path directory) {
        existingDirectory(directory, "model directory");
        if (!Files.isRegularFile(directory.resolve("config.json"))) {
            throw new UserError("model directory has no config.json: " + directory.toAbsolutePath());
        }
        return directory;
    }
}
