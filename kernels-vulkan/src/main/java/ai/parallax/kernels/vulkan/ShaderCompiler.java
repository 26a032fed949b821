package ai.parallax.kernels.vulkan;

import static org.lwjgl.util.shaderc.Shaderc.*;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Compiles the GLSL compute shaders under {@code shaders/} to SPIR-V at run time with shaderc. A shader may start
 * its body with {@code #include "common.glsl"}, which is pasted in. The results are cached per (shader, macros),
 * for the life of the JVM: compiling takes tens of milliseconds, and several backends may share one process.
 */
final class ShaderCompiler {
    private static final Map<String, byte[]> CACHE = new ConcurrentHashMap<>();

    private ShaderCompiler() {
    }

    /**
     * SPIR-V for {@code shaders/<name>.comp} with the given {@code NAME=value} macros.
     *
     * @throws VulkanException with shaderc's message when the shader does not compile
     */
    static byte[] spirv(String name, Map<String, String> macros) {
        String key = name + new java.util.TreeMap<>(macros);
        return CACHE.computeIfAbsent(key, k -> compile(name, macros));
    }

    private static byte[] compile(String name, Map<String, String> macros) {
        String source = source(name + ".comp").replace("#include \"common.glsl\"", source("common.glsl"));
        long compiler = shaderc_compiler_initialize();
        long options = shaderc_compile_options_initialize();
        try {
            // Vulkan 1.1 is the oldest with subgroup operations in compute shaders.
            shaderc_compile_options_set_target_env(options, shaderc_target_env_vulkan, shaderc_env_version_vulkan_1_1);
            shaderc_compile_options_set_optimization_level(options, shaderc_optimization_level_performance);
            for (Map.Entry<String, String> m : macros.entrySet()) {
                shaderc_compile_options_add_macro_definition(options, m.getKey(), m.getValue());
            }
            long result = shaderc_compile_into_spv(compiler, source, shaderc_glsl_compute_shader, name + ".comp",
                    "main", options);
            try {
                if (shaderc_result_get_compilation_status(result) != shaderc_compilation_status_success) {
                    throw new VulkanException("shader " + name + ".comp " + macros + " does not compile: "
                            + shaderc_result_get_error_message(result));
                }
                ByteBuffer bytes = shaderc_result_get_bytes(result);
                byte[] copy = new byte[bytes.remaining()];
                bytes.get(copy);
                return copy;
            } finally {
                shaderc_result_release(result);
            }
        } finally {
            shaderc_compile_options_release(options);
            shaderc_compiler_release(compiler);
        }
    }

    private static String source(String file) {
        try (InputStream in = ShaderCompiler.class.getResourceAsStream("shaders/" + file)) {
            if (in == null) {
                throw new IllegalStateException("shader resource shaders/" + file + " is missing from the jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
