package ai.parallax.server.cli;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.kernels.vulkan.VulkanDeviceInfo;
import ai.parallax.kernels.vulkan.VulkanDevices;
import ai.parallax.kernels.vulkan.VulkanException;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code parallax devices}: the backends this machine offers to {@code --device}. */
@Command(name = "devices", mixinStandardHelpOptions = true,
        description = "List the compute devices: the CPU backend and every Vulkan device.")
public final class DevicesCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        out.printf("cpu: %d threads, %d-lane float vectors (Vector API)%n", Runtime.getRuntime().availableProcessors(),
                SimdOps.vectorLanes());
        try {
            for (VulkanDeviceInfo d : VulkanDevices.list()) {
                out.println("vulkan " + d.describe());
            }
        } catch (VulkanException e) {
            out.println("vulkan: unavailable (" + e.getMessage() + ")");
        }
        out.flush();
        return 0;
    }
}
