package ai.parallax.server.cli;

import static ai.parallax.server.cli.ParallaxCliTest.STORIES;
import static ai.parallax.server.cli.ParallaxCliTest.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SynthBenchCommandTest {

    @Test
    void synthesisedModelGeneratesAndBenchReportsEveryRunAgainstItsCeiling(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("tiny");
        ParallaxCliTest.Run synth = run("synth", "--shape", "tiny", "--dtype", "bf16", "--out", model.toString(),
                "--tokenizer", STORIES.toString(), "--seed", "11");
        assertThat(synth.exitCode()).as(synth.err()).isZero();
        assertThat(synth.out()).contains("tiny bf16");

        // The synthetic directory is a complete model: generate runs on it, tokenizer and all.
        ParallaxCliTest.Run generate = run("generate", "-m", model.toString(), "-p", "Once", "--max-tokens", "4",
                "--ignore-eos", "--json", "--threads", "1");
        assertThat(generate.exitCode()).as(generate.err()).isZero();
        assertThat(new ObjectMapper().readTree(generate.out()).get("generated_ids")).hasSize(4);

        // With --quantize q8 the linear weights are converted and the Q8 copy is saved beside the model.
        ParallaxCliTest.Run q8 = run("generate", "-m", model.toString(), "-p", "Once", "--max-tokens", "4",
                "--ignore-eos", "--json", "--threads", "1", "--quantize", "q8");
        assertThat(q8.exitCode()).as(q8.err()).isZero();
        assertThat(new ObjectMapper().readTree(q8.out()).get("generated_ids")).hasSize(4);
        assertThat(model.resolve("parallax-q8").resolve("model.safetensors")).exists();

        ParallaxCliTest.Run bench = run("bench", "-m", model.toString(), "--json", "--threads", "2", "--prompt", "32",
                "--decode", "8", "--batch", "2,4", "--batch-steps", "2", "--probe-mb", "64");
        assertThat(bench.exitCode()).as(bench.err()).isZero();
        JsonNode report = new ObjectMapper().readTree(bench.out());
        assertThat(report.at("/machine/bandwidth").asDouble()).isPositive();
        assertThat(report.at("/machine/fmaRate").asDouble()).isPositive();
        JsonNode rows = report.get("rows");
        assertThat(rows).hasSize(4);
        assertThat(rows.get(0).get("name").asText()).isEqualTo("prefill 32");
        assertThat(rows.get(1).get("name").asText()).isEqualTo("decode");
        assertThat(rows.get(3).get("batch").asInt()).isEqualTo(4);
        assertThat(rows.get(3).get("tokens").asInt()).isEqualTo(8);
        for (JsonNode row : rows) {
            double rate = row.get("tokensPerSecond").asDouble();
            assertThat(rate).isPositive();
            assertThat(row.get("percentOfCeiling").asDouble())
                    .isCloseTo(100 * rate / row.get("ceiling").asDouble(), within(1e-6));
        }
        assertThat(report.get("decodeAllocatedBytesPerToken").asDouble()).isNotNegative();
    }

    /**
     * On the Vulkan backend (lavapipe here) bench measures the device's copy bandwidth as the decode ceiling, or takes
     * the one --bandwidth gives; without --tflops there is no compute ceiling, so prefill has no percentage.
     */
    @Test
    void benchOnVulkanComparesDecodeWithTheDeviceBandwidth(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("tiny");
        assertThat(run("synth", "--shape", "tiny", "--out", model.toString(), "--tokenizer", STORIES.toString())
                .exitCode()).isZero();
        ParallaxCliTest.Run bench = run("bench", "-m", model.toString(), "--device", "vulkan", "--json",
                "--prompt", "20", "--decode", "4", "--batch", "2", "--batch-steps", "2", "--probe-mb", "64",
                "--bandwidth", "100");
        assertThat(bench.exitCode()).as(bench.err()).isZero();
        JsonNode report = new ObjectMapper().readTree(bench.out());
        assertThat(report.get("backend").asText()).isEqualTo("vulkan");
        assertThat(report.at("/machine/bandwidth").asDouble()).isEqualTo(100e9);
        assertThat(report.at("/machine/bandwidthBest").asDouble()).as("measured copy bandwidth").isPositive();
        JsonNode decode = report.get("rows").get(1);
        assertThat(decode.get("name").asText()).isEqualTo("decode");
        assertThat(decode.get("tokensPerSecond").asDouble()).isPositive();
        // 100 GB/s over the weights and the KV cache a token reads.
        assertThat(decode.get("bandwidthCeiling").asDouble()).isPositive()
                .isLessThan(100e9 / report.at("/cost/weightBytesRead").asDouble());
        assertThat(report.get("rows").get(0).get("percentOfCeiling").asDouble()).isNaN();
    }

    @Test
    void unknownQuantizationIsNamed() {
        ParallaxCliTest.Run run = run("generate", "-m", STORIES.toString(), "-p", "Once", "--quantize", "q4");
        assertThat(run.exitCode()).isNotZero();
        assertThat(run.err()).contains("q4").contains("q8");
    }

    @Test
    void unknownShapeIsNamedWithTheKnownOnes(@TempDir Path dir) {
        ParallaxCliTest.Run synth = run("synth", "--shape", "gpt-5", "--out", dir.toString());
        assertThat(synth.exitCode()).isNotZero();
        assertThat(synth.err()).contains("gpt-5").contains("llama-3.2-1b");
    }

    @Test
    void synthLayersWritesOnlyTheFirstLayersAndFamilyShapesRefuseADtype(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("tiny-1");
        ParallaxCliTest.Run synth = run("synth", "--shape", "tiny", "--layers", "1", "--out", model.toString(),
                "--tokenizer", STORIES.toString());
        assertThat(synth.exitCode()).as(synth.err()).isZero();
        assertThat(new ObjectMapper().readTree(model.resolve("config.json").toFile()).get("num_hidden_layers").asInt())
                .isEqualTo(1);

        // A real shape written with holes: its full layout on almost no disk, and it loads.
        Path holes = dir.resolve("kimi-holes");
        ParallaxCliTest.Run kimi = run("synth", "--shape", "kimi-k2", "--layers", "2", "--holes", "--out",
                holes.toString());
        assertThat(kimi.exitCode()).as(kimi.err()).isZero();
        assertThat(kimi.out()).contains("kimi-k2 (2 of 61 layers) fp8 (holes)");
        JsonNode config = new ObjectMapper().readTree(holes.resolve("config.json").toFile());
        assertThat(config.get("num_hidden_layers").asInt()).isEqualTo(2);
        assertThat(config.get("n_routed_experts").asInt()).isEqualTo(384);

        ParallaxCliTest.Run fp8 = run("synth", "--shape", "gpt-oss-20b", "--dtype", "fp8", "--layers", "1", "--out",
                dir.resolve("oss").toString());
        assertThat(fp8.exitCode()).isNotZero();
        assertThat(fp8.err()).contains("gpt-oss-20b").contains("--dtype fp8");

        ParallaxCliTest.Run tooMany = run("synth", "--shape", "kimi-k2", "--layers", "62", "--out",
                dir.resolve("kimi").toString());
        assertThat(tooMany.exitCode()).isNotZero();
        assertThat(tooMany.err()).contains("--layers 62").contains("61");
    }

    @Test
    void perLayerBenchReportsEveryLayerTypeOfEachFamilyAtEachBatch() throws Exception {
        Path models = STORIES.getParent();
        String[][] cases = {
                {"tiny-random-gpt-oss", "sliding attention (window 8) + MoE 4/8", "full attention + MoE 4/8"},
                {"tiny-random-deepseek-v3", "MLA + dense MLP", "MLA + MoE 4/16"},
                {"tiny-random-qwen3-next", "linear attention + MoE 2/8", "full attention + MoE 2/8",
                        "linear attention + dense MLP"}};
        for (String[] c : cases) {
            ParallaxCliTest.Run bench = run("bench", "-m", models.resolve(c[0]).toString(), "--per-layer", "--json",
                    "--threads", "1", "--layer-context", "24", "--layer-steps", "2", "--probe-mb", "64");
            assertThat(bench.exitCode()).as(bench.err()).isZero();
            JsonNode report = new ObjectMapper().readTree(bench.out());
            JsonNode layers = report.get("layers");
            int layerCount = new ObjectMapper().readTree(models.resolve(c[0]).resolve("config.json").toFile())
                    .get("num_hidden_layers").asInt();
            assertThat(layers).as(c[0]).hasSize(2 * layerCount);
            java.util.Set<String> kinds = new java.util.HashSet<>();
            double bandwidth = report.get("bandwidth").asDouble();
            for (JsonNode row : layers) {
                kinds.add(row.get("kind").asText());
                double seconds = row.get("stepSeconds").asDouble();
                double bytes = row.get("bytesPerToken").asDouble();
                assertThat(seconds).isPositive();
                assertThat(bytes).isPositive();
                assertThat(row.get("bandwidthFraction").asDouble())
                        .isCloseTo(bytes * row.get("batch").asInt() / seconds / bandwidth, within(1e-9));
            }
            assertThat(kinds).as(c[0]).containsExactlyInAnyOrder(java.util.Arrays.copyOfRange(c, 1, c.length));
            // A batch of 16 shares the weights it reads: fewer bytes per token than one sequence alone.
            assertThat(layers.get(1).get("bytesPerToken").asDouble())
                    .isLessThan(layers.get(0).get("bytesPerToken").asDouble());
        }
    }
}
