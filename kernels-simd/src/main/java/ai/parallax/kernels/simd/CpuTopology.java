package ai.parallax.kernels.simd;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/**
 * How many physical cores this process may use. Matrix kernels saturate a core's vector units and its share of
 * memory bandwidth with one thread; a second hyper-thread on the same core adds contention, not throughput, so
 * thread counts default to physical cores.
 */
public final class CpuTopology {
    private CpuTopology() {
    }

    /**
     * Physical cores among the processors available to the JVM: distinct (package, core) pairs in Linux's
     * {@code /sys/devices/system/cpu/cpuN/topology}, capped by {@link Runtime#availableProcessors()} (which honours
     * cgroup and affinity limits). Where the topology cannot be read, all available processors.
     */
    public static int physicalCores() {
        int available = Runtime.getRuntime().availableProcessors();
        Path cpus = Path.of("/sys/devices/system/cpu");
        if (!Files.isDirectory(cpus)) {
            return available;
        }
        Set<String> cores = new HashSet<>();
        int logical = 0;
        try (var entries = Files.list(cpus)) {
            for (Path cpu : (Iterable<Path>) entries::iterator) {
                String name = cpu.getFileName().toString();
                if (!name.matches("cpu\\d+")) {
                    continue;
                }
                Path topology = cpu.resolve("topology");
                Path coreId = topology.resolve("core_id");
                Path packageId = topology.resolve("physical_package_id");
                if (!Files.isReadable(coreId) || !Files.isReadable(packageId)) {
                    return available;
                }
                logical++;
                cores.add(Files.readString(packageId).trim() + ":" + Files.readString(coreId).trim());
            }
        } catch (IOException | SecurityException e) {
            return available;
        }
        if (cores.isEmpty()) {
            return available;
        }
        // With fewer processors available than the machine has, assume the same share of threads per core.
        int threadsPerCore = Math.max(1, logical / cores.size());
        return Math.max(1, Math.min(cores.size(), available / threadsPerCore));
    }
}
