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
}
