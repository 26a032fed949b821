package ai.parallax.p2p.identity;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * The file that holds a node's identity key, so that its peer id survives restarts. The file is the libp2p
 * protobuf PrivateKey, created with mode 0600 (the private key must not be readable by other users), and never
 * silently replaced: a corrupt file is an error, not a reason to become a different peer.
 */
public final class IdentityFile {
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");

    private IdentityFile() {
    }

    /** The default location: $XDG_CONFIG_HOME/parallax/identity.key, else ~/.config/parallax/identity.key. */
    public static Path defaultPath() {
        String xdg = System.getenv("XDG_CONFIG_HOME");
        Path config = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".config");
        return config.resolve("parallax").resolve("identity.key");
    }

    /** Loads the key pair at {@code file}, creating a new one there first if the file does not exist. */
    public static IdentityKeyPair loadOrCreate(Path file) throws IOException {
        if (Files.exists(file)) {
            return load(file);
        }
        IdentityKeyPair pair = IdentityKeyPair.generate();
        Path dir = file.toAbsolutePath().getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
        boolean posix = file.getFileSystem().supportedFileAttributeViews().contains("posix");
        FileAttribute<?>[] attrs = posix
                ? new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(OWNER_ONLY)} : new FileAttribute<?>[0];
        try {
            // CREATE_NEW with the permission attribute: the key is never visible with wider permissions, not even
            // briefly, and two processes starting at once cannot overwrite each other's key.
            Files.write(Files.createFile(file, attrs), pair.toProtobuf(), StandardOpenOption.WRITE);
        } catch (FileAlreadyExistsException raced) {
            return load(file);
        }
        return pair;
    }

    public static IdentityKeyPair load(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        try {
            return IdentityKeyPair.fromProtobuf(bytes);
        } catch (IllegalArgumentException e) {
            throw new IOException("identity file " + file + " is not a libp2p Ed25519 private key: " + e.getMessage(), e);
        }
    }
}
