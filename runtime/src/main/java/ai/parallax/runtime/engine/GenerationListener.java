package ai.parallax.runtime.engine;

import ai.parallax.runtime.GenerationResult;
import ai.parallax.runtime.sampling.TokenLogprob;

/**
 * Receives one request's output from the engine thread. Calls must return quickly (hand the event to the
 * connection's own thread); they must not block on the network.
 */
public interface GenerationListener {

    /**
     * A generated token and the text that became final with it (often empty while a multi-byte character or a
     * possible stop string is still open).
     *
     * @param logprob null unless the request asked for log-probabilities
     */
    void onToken(int tokenId, String text, TokenLogprob logprob);

    /** Generation ended normally (stop, length) or by cancellation; {@code result.text()} is the whole output. */
    void onComplete(GenerationResult result);

    /** Generation failed inside the engine. */
    void onFailure(Throwable error);
}
