package ai.parallax.models.llama;

import ai.parallax.models.FeedForward;
import ai.parallax.tensors.Tensor;

/**
 * The weights of one decoder layer of the Llama family. Optional parts are null when the architecture has none:
 * q/k/v biases (Qwen2, or Llama with {@code attention_bias}), o bias (Llama with {@code attention_bias}), per-head
 * q/k norms (Qwen3). The feed-forward step is a dense MLP or, in the sparse layers of an MoE model, a mixture of
 * experts.
 */
record LlamaLayerWeights(
        Tensor inputNorm,
        Tensor queryProj, Tensor queryBias,
        Tensor keyProj, Tensor keyBias,
        Tensor valueProj, Tensor valueBias,
        Tensor queryNorm, Tensor keyNorm,
        Tensor outputProj, Tensor outputBias,
        Tensor postAttentionNorm,
        FeedForward feedForward) {
}
