package ai.parallax.launcher;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JdkLocatorTest {

    @Test
    void picksTheFirstJdk25WithTheVectorModuleAndSkipsTheRest(@TempDir Path jvms) throws Exception {
        fakeJdk(jvms.resolve("a-java-17"), "17.0.15", "java.base jdk.incubator.vector");
        fakeJdk(jvms.resolve("b-jre-25"), "25.0.3", "java.base java.logging");
        Path noLauncher = fakeJdk(jvms.resolve("c-broken-25"), "25.0.3", "java.base jdk.incubator.vector");
        Files.delete(noLauncher.resolve("bin/java"));
        Path good = fakeJdk(jvms.resolve("d-temurin-25"), "25.0.3", "java.base jdk.incubator.vector");
        fakeJdk(jvms.resolve("e-temurin-26"), "26", "java.base jdk.incubator.vector");

        JdkLocator locator = new JdkLocator(List.of(new JdkLocator.Place("jvms/*", jvms, true, "")));

        assertThat(locator.find()).contains(good);
    }

    @Test
    void explicitHomeComesBeforeTheScannedFolders(@TempDir Path root) throws Exception {
        Path explicit = fakeJdk(root.resolve("mine"), "25", "java.base jdk.incubator.vector");
        fakeJdk(root.resolve("jvms/temurin-25"), "25.0.3", "java.base jdk.incubator.vector");
        JdkLocator locator = JdkLocator.forEnvironment(Map.of("PARALLAX_JAVA_HOME", explicit.toString()), root);

        assertThat(locator.find()).contains(explicit);
        assertThat(locator.describeSearchPath()).startsWith("PARALLAX_JAVA_HOME=" + explicit + ", /usr/lib/jvm/*, "
                + "~/.sdkman/candidates/java/*, /Library/Java/JavaVirtualMachines/*/Contents/Home");
    }

    @Test
    void macOsBundlesAreSearchedInsideContentsHome(@TempDir Path root) throws Exception {
        Path home = fakeJdk(root.resolve("temurin-25.jdk/Contents/Home"), "25.0.1", "java.base jdk.incubator.vector");
        JdkLocator locator = new JdkLocator(List.of(new JdkLocator.Place("bundles", root, true, "Contents/Home")));

        assertThat(locator.find()).contains(home);
    }

    @Test
    void nothingSuitableGivesEmpty(@TempDir Path jvms) throws Exception {
        fakeJdk(jvms.resolve("java-17"), "17.0.15", "java.base jdk.incubator.vector");
        JdkLocator locator = new JdkLocator(List.of(
                new JdkLocator.Place("jvms/*", jvms, true, ""),
                new JdkLocator.Place("missing", jvms.resolve("missing"), true, "")));

        assertThat(locator.find()).isEmpty();
    }

    @Test
    void featureVersionReadsEveryVersionScheme() {
        assertThat(JdkLocator.featureVersion("25")).isEqualTo(25);
        assertThat(JdkLocator.featureVersion("25.0.3")).isEqualTo(25);
        assertThat(JdkLocator.featureVersion("26-ea")).isEqualTo(26);
        assertThat(JdkLocator.featureVersion("1.8.0_402")).isEqualTo(1);
        assertThat(JdkLocator.featureVersion("")).isEqualTo(-1);
    }

    @Test
    void theRealJdkRunningThisTestIsSuitable() {
        assertThat(JdkLocator.isSuitable(Path.of(System.getProperty("java.home")))).isTrue();
    }

    /** A JDK home as far as the locator can tell: a release file and an executable bin/java. */
    static Path fakeJdk(Path home, String version, String modules) throws Exception {
        Files.createDirectories(home.resolve("bin"));
        Files.writeString(home.resolve("release"),
                "IMPLEMENTOR=\"Test\"\nJAVA_VERSION=\"" + version + "\"\nMODULES=\"" + modules + "\"\n");
        Path java = Files.writeString(home.resolve("bin/java"), "#!/bin/sh\nexit 99\n");
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
        return home;
    }
}
