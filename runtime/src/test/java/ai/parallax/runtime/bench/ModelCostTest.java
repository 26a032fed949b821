package ai.parallax.runtime.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.parallax.models.config.ModelConfig;
import ai.parallax.runtime.bench.ModelBenchmark.Batched;
import ai.parallax.runtime.bench.ModelBenchmark.Measurements;
import ai.parallax.runtime.bench.ModelBenchmark.Settings;
import ai.parallax.runtime.bench.ModelBenchmark.Throughput;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import org.junit.jupiter.api.Test;

class ModelCostTest {

    /** Llama 3.2 1B: 1,235,814,400 parameters, the 262,668,288 of the embedding tied to lm_head. */
    private static ModelConfig llama32OneB(boolean tied) throws Exception {
        String json = """
                {"model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
                 "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256,
                 "tie_word_embeddings": %s}""".formatted(tied);
        return ModelConfig.parse(new ObjectMapper().readTree(json), "test");
    }

    @Test
    void tiedBf16ModelReadsEveryWeightOncePerToken() throws Exception {
        ModelCost cost = ModelCost.of(llama32OneB(true), 2 * 1_235_814_400L);
        // Every matrix, lm_head (the tied embedding) included; only the 16·2·2048 + 2048 norm weights are not.
        assertThat(cost.linearParameters()).isEqualTo(1_235_814_400L - 67_584);
        assertThat(cost.weightBytesRead()).isEqualTo(2 * 1_235_814_400L);
        assertThat(cost.flopsPerToken(0)).isEqualTo(2.0 * cost.linearParameters());
        // At context 100: 16 layers × 2 (k and v) × 100 positions × 512 floats of KV read.
        assertThat(cost.bytesPerToken(100) - cost.bytesPerToken(0)).isEqualTo(16 * 2 * 100 * 512 * 4.0);
        assertThat(cost.flopsPerToken(100) - cost.flopsPerToken(0)).isEqualTo(4.0 * 16 * 100 * 2048);
    }

    @Test
    void untiedEmbeddingTableIsNotReadWhole() throws Exception {
        long parameters = 1_235_814_400L + 262_668_288L;
        ModelCost cost = ModelCost.of(llama32OneB(false), 2 * parameters);
        assertThat(cost.weightBytesRead()).isEqualTo(2 * 1_235_814_400L);
    }

    @Test
    void mixtureOfExpertsTokenReadsOnlyItsTopKExperts() throws Exception {
        // Qwen3-30B-A3B: 30.5 B parameters stored, 3.3 B active per token.
        String json = """
                {"model_type": "qwen3_moe", "hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 48,
                 "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128, "vocab_size": 151936,
                 "num_experts": 128, "num_experts_per_tok": 8, "moe_intermediate_size": 768,
                 "tie_word_embeddings": false}""";
        ModelConfig config = ModelConfig.parse(new ObjectMapper().readTree(json), "test");
        long stored = 30_532_122_624L;
        ModelCost cost = ModelCost.of(config, 2 * stored);
        // The published 3.3 B active parameters count the input embedding table too, which a token does not multiply.
        assertThat(cost.linearParameters() + 151936L * 2048).isBetween(3_300_000_000L, 3_400_000_000L);
        // Active weights, minus the untied embedding table (lm_head still counts), at 2 bytes each.
        assertThat((double) cost.weightBytesRead()).isCloseTo(2.0 * cost.linearParameters(), within(2e6));
    }

    @Test
    void reportDividesEachRateByItsCeiling() throws Exception {
        ModelCost cost = ModelCost.of(llama32OneB(true), 2 * 1_235_814_400L);
        BenchReport.Machine machine = new BenchReport.Machine(2, 30e9, 50e9, 200e9, 400e9, 60e9, 450e9);
        Settings settings = new Settings(512, 128, List.of(8), 16, 0);
        Measurements m = new Measurements(new Throughput(512, 10.0), new Throughput(128, 16.0),
                List.of(new Batched(8, new Throughput(128, 4.0))), 0);
        BenchReport report = BenchReport.of(machine, cost, settings, m);

        BenchReport.Row prefill = report.rows().get(0);
        assertThat(prefill.tokensPerSecond()).isEqualTo(51.2);
        assertThat(prefill.ceiling()).isCloseTo(400e9 / cost.flopsPerToken(256), within(1e-9));
        assertThat(prefill.percentOfCeiling()).isCloseTo(100 * 51.2 / prefill.ceiling(), within(1e-9));

        BenchReport.Row decode = report.rows().get(1);
        assertThat(decode.ceiling()).isCloseTo(50e9 / cost.bytesPerToken(64), within(1e-9));
        assertThat(decode.ceiling()).isBetween(19.0, 21.0);
        assertThat(decode.computeCeiling()).isNaN();

        BenchReport.Row batched = report.rows().get(2);
        assertThat(batched.bandwidthCeiling()).isBetween(8 * 19.0, 8 * 21.0);
        assertThat(batched.computeCeiling()).isCloseTo(400e9 / cost.flopsPerToken(8), within(1e-9));
        assertThat(batched.ceiling()).isEqualTo(Math.min(batched.bandwidthCeiling(), batched.computeCeiling()));
        assertThat(batched.percentOfCeiling()).isCloseTo(100 * 32 / batched.ceiling(), within(1e-9));
    }

    @Test
    void longContextDecodeIsBoundedByWeightsPlusTheWholeKvCache() throws Exception {
        ModelCost cost = ModelCost.of(llama32OneB(true), 2 * 1_235_814_400L);
        BenchReport.Machine machine = new BenchReport.Machine(2, 30e9, 50e9, 200e9, 400e9, 60e9, 450e9);
        Settings settings = new Settings(512, 128, List.of(), 16, 0, 8192);
        Measurements m = new Measurements(new Throughput(512, 10.0), new Throughput(128, 16.0), List.of(), 0,
                new Throughput(128, 32.0, 1.5));
        BenchReport report = BenchReport.of(machine, cost, settings, m);

        BenchReport.Row longContext = report.rows().get(2);
        assertThat(longContext.name()).isEqualTo("decode @8192");
        assertThat(longContext.tokensPerSecond()).isEqualTo(4.0);
        // 1.5 cores busy on average out of the 2 threads the model ran with.
        assertThat(longContext.cpuShare()).isEqualTo(0.75);
        assertThat(report.rows().get(0).cpuShare()).isNaN();
        // Mean context 8192 + 64: 16 layers x 2 (K and V) x 512 floats of 4 bytes per position, about 0.54 GB.
        double kvBytes = 2.0 * 16 * (8192 + 64) * 512 * 4;
        assertThat(longContext.ceiling()).isCloseTo(50e9 / (cost.weightBytesRead() + kvBytes), within(1e-9));
        assertThat(longContext.ceiling()).isLessThan(report.rows().get(1).ceiling());
        assertThat(settings.positionsNeeded()).isEqualTo(8192 + 128 + 2);
    }
}
