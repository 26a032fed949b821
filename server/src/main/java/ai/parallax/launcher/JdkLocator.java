package ai.parallax.launcher;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Finds an installed JDK that can run Parallax: Java {@value Launcher#REQUIRED_FEATURE} or newer with the
 * {@code jdk.incubator.vector} module.
 *
 * <p>It reads each candidate's {@code release} file (JAVA_VERSION and MODULES, written by every JDK build since 9)
 * instead of running its {@code java}, which would cost a JVM start per candidate.
 */
final class JdkLocator {

    /** One place to look: either a single JDK home, or a folder whose sub-folders are JDK homes. */
    record Place(String description, Path path, boolean isParentOfHomes, String homeSuffix) {
    }

    private final List<Place> places;

    JdkLocator(List<Place> places) {
        this.places = List.copyOf(places);
    }

    static JdkLocator forThisMachine() {
        return forEnvironment(System.getenv(), Path.of(System.getProperty("user.home")));
    }

    static JdkLocator forEnvironment(Map<String, String> environment, Path userHome) {
        List<Place> places = new ArrayList<>();
        for (String variable : List.of("PARALLAX_JAVA_HOME", "JAVA_HOME")) {
            String value = environment.get(variable);
            if (value != null && !value.isBlank()) {
                places.add(new Place(variable + "=" + value, Path.of(value), false, ""));
            }
        }
        places.add(new Place("/usr/lib/jvm/*", Path.of("/usr/lib/jvm"), true, ""));
        places.add(new Place("~/.sdkman/candidates/java/*", userHome.resolve(".sdkman/candidates/java"), true, ""));
        places.add(new Place("/Library/Java/JavaVirtualMachines/*/Contents/Home",
                Path.of("/Library/Java/JavaVirtualMachines"), true, "Contents/Home"));
        return new JdkLocator(places);
    }

    /** The first suitable JDK home, in the order of {@link #describeSearchPath()}. */
    Optional<Path> find() {
        for (Place place : places) {
            for (Path home : homesIn(place)) {
                if (isSuitable(home)) {
                    return Optional.of(home);
                }
            }
        }
        return Optional.empty();
    }

    String describeSearchPath() {
        return String.join(", ", places.stream().map(Place::description).toList());
    }

    private static List<Path> homesIn(Place place) {
        if (!place.isParentOfHomes()) {
            return List.of(place.path());
        }
        if (!Files.isDirectory(place.path())) {
            return List.of();
        }
        try (Stream<Path> children = Files.list(place.path())) {
            // Sorted so that the choice does not depend on directory order; jdk-25 sorts before jdk-26.
            return children.sorted().map(child -> child.resolve(place.homeSuffix())).toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    static boolean isSuitable(Path home) {
        Path release = home.resolve("release");
        if (!Files.isRegularFile(release) || !Files.isExecutable(javaBinary(home))) {
            return false;
        }
        List<String> lines;
        try {
            lines = Files.readAllLines(release, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return false;
        }
        String version = releaseValue(lines, "JAVA_VERSION");
        String modules = releaseValue(lines, "MODULES");
        return version != null && featureVersion(version) >= Launcher.REQUIRED_FEATURE
                && (modules == null || List.of(modules.split(" ")).contains(Launcher.VECTOR_MODULE));
    }

    static Path javaBinary(Path home) {
        boolean windows = System.getProperty("os.name", "").startsWith("Windows");
        return home.resolve("bin").resolve(windows ? "java.exe" : "java");
    }

    /** {@code KEY="value"} lines, as the JDK's {@code release} file writes them. */
    private static String releaseValue(List<String> lines, String key) {
        String prefix = key + "=";
        for (String line : lines) {
            if (line.startsWith(prefix)) {
                String value = line.substring(prefix.length()).trim();
                if (value.length() >= 2 && value.startsWith("\"") && value.endsWith("\"")) {
                    value = value.substring(1, value.length() - 1);
                }
                return value;
            }
        }
        return null;
    }

    /** 25 for "25", "25.0.3" or "25-ea"; 1 for the old "1.8.0_402" scheme; -1 if unreadable. */
    static int featureVersion(String javaVersion) {
        int end = 0;
        while (end < javaVersion.length() && Character.isDigit(javaVersion.charAt(end))) {
            end++;
        }
        if (end == 0) {
            return -1;
        }
        try {
            return Integer.parseInt(javaVersion.substring(0, end));
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}
