package ai.parallax.models;

import ai.parallax.tensors.Tensor;

/**
 * The feed-forward step of a decoder layer, after the post-attention norm: a dense gated MLP
 * ({@link DenseFeedForward}) or a mixture of experts ({@code moe.MixtureOfExperts}), chosen per layer.
 */
public interface FeedForward {

    /**
     * {@code residual += FFN(x)} for a batch of tokens: x is the normed hidden state {@code [T, hidden]}, residual
     * the residual stream of the same shape. x is left as it was.
     */
    void addTo(Tensor x, Tensor residual);

    /** Bytes of every weight this step holds, all experts included. */
    long weightBytes();
}
