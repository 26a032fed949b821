package ai.parallax.models.gptoss;

import ai.parallax.tensors.Tensor;

/**
 * The weights of one gpt-oss decoder layer. The projection biases are null when {@code attention_bias} is false;
 * {@code sinks} holds one learned logit per query head.
 */
record GptOssLayerWeights(
        boolean sliding,
        Tensor inputNorm,
        Tensor queryProj, Tensor queryBias,
        Tensor keyProj, Tensor keyBias,
        Tensor valueProj, Tensor valueBias,
        Tensor outputProj, Tensor outputBias,
        Tensor sinks,
        Tensor postAttentionNorm,
        GptOssExperts experts) {
}
