package ai.parallax.kernels.vulkan;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.parallax.kernels.vulkan.VulkanDeviceInfo.Type;
import ai.parallax.kernels.vulkan.VulkanDevices.Choice;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class VulkanDevicesTest {

    private static VulkanDeviceInfo device(int index, String name, Type type, long memory) {
        return new VulkanDeviceInfo(index, name, type, 0, "1.3.0", memory, 32, 1L << 32, 1024, 49152, true);
    }

    @Test
    void listingShowsLavapipeWithItsLimits() {
        List<VulkanDeviceInfo> devices = VulkanDevices.list();
        assertThat(devices).isNotEmpty();
        VulkanDeviceInfo lavapipe = devices.stream().filter(d -> d.name().startsWith("llvmpipe")).findFirst()
                .orElseThrow(() -> new AssertionError("no llvmpipe among " + devices));
        assertThat(lavapipe.type()).isEqualTo(Type.CPU);
        assertThat(lavapipe.maxStorageBufferRange()).isEqualTo(128L << 20);
        assertThat(lavapipe.maxWorkgroupInvocations()).isGreaterThanOrEqualTo(256);
        assertThat(lavapipe.subgroupSize()).isPositive();
        assertThat(lavapipe.pushDescriptors()).isTrue();
        assertThat(lavapipe.describe()).contains("llvmpipe").contains("cpu").contains("max storage buffer 128 MiB");
    }

    @Test
    void autoPicksADiscreteGpuOnlyAndVulkanPicksTheBestDevice() {
        VulkanDeviceInfo cpu = device(0, "llvmpipe", Type.CPU, 1L << 30);
        VulkanDeviceInfo igpu = device(1, "Intel UHD", Type.INTEGRATED_GPU, 4L << 30);
        VulkanDeviceInfo small = device(2, "RTX 3060", Type.DISCRETE_GPU, 12L << 30);
        VulkanDeviceInfo big = device(3, "H100", Type.DISCRETE_GPU, 80L << 30);
        assertThat(VulkanDevices.select(Choice.AUTO, List.of(cpu, igpu))).isEmpty();
        assertThat(VulkanDevices.select(Choice.AUTO, List.of(cpu, small, igpu, big))).contains(big);
        assertThat(VulkanDevices.select(Choice.VULKAN, List.of(cpu, igpu))).contains(igpu);
        assertThat(VulkanDevices.select(Choice.VULKAN, List.of(cpu))).contains(cpu);
        assertThat(VulkanDevices.select(Choice.CPU, List.of(big))).isEmpty();
        assertThatThrownBy(() -> VulkanDevices.select(Choice.VULKAN, List.of()))
                .isInstanceOf(VulkanException.class).hasMessageContaining("no usable Vulkan device");
    }

    @Test
    void deviceFlagParsesItsThreeValues() {
        assertThat(VulkanDevices.Choice.parse("cpu")).isEqualTo(Choice.CPU);
        assertThat(VulkanDevices.Choice.parse("Vulkan")).isEqualTo(Choice.VULKAN);
        assertThat(VulkanDevices.Choice.parse("auto")).isEqualTo(Choice.AUTO);
        assertThatThrownBy(() -> VulkanDevices.Choice.parse("cuda")).hasMessageContaining("cpu, vulkan or auto");
    }

    @Test
    void missingDriverIsNamedInTheError() throws Exception {
        // A loader pointed at an ICD manifest that does not exist finds no driver at all.
        Result r = runListing(List.of(), "VK_ICD_FILENAMES", "/nonexistent/parallax_icd.json");
        assertThat(r.exitCode).isNotZero();
        assertThat(r.stderr).containsAnyOf("no usable driver (ICD)", "found no device")
                .contains("mesa-vulkan-drivers");
    }

    @Test
    void missingLoaderIsNamedInTheError() throws Exception {
        Result r = runListing(List.of("-Dorg.lwjgl.vulkan.libname=/nonexistent/libvulkan.so.1"), null, null);
        assertThat(r.exitCode).isNotZero();
        assertThat(r.stderr).contains("loader library").contains("libvulkan1");
    }

    private record Result(int exitCode, String stderr) {
    }

    /** Runs the device listing in a fresh JVM, where the loader reads its environment anew. */
    private static Result runListing(List<String> jvmOptions, String envName, String envValue)
            throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("--enable-native-access=ALL-UNNAMED");
        command.add("--sun-misc-unsafe-memory-access=allow");
        command.addAll(jvmOptions);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(VulkanDevices.class.getName());
        ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        if (envName != null) {
            builder.environment().put(envName, envValue);
            builder.environment().put("VK_DRIVER_FILES", envValue);
        }
        Process process = builder.start();
        String stderr = new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new Result(process.exitValue(), stderr);
    }
}
