package ai.parallax.server.api;

import ai.parallax.models.tokenizer.Tokenizer;
import ai.parallax.runtime.engine.InferenceEngine;

/**
 * A model the API serves: its public id, the engine running it, its tokenizer and chat formatting.
 *
 * @param created seconds since the epoch when it was loaded (OpenAI's {@code created})
 */
public record ServedModel(String id, InferenceEngine engine, Tokenizer tokenizer, ChatPromptFormatter chat,
                          long created) {
}
