package ai.parallax.server.api;

import ai.parallax.models.tokenizer.Tokenizer;
import ai.parallax.runtime.GenerationRequest;
import ai.parallax.runtime.engine.GenerationListener;
import ai.parallax.runtime.engine.InferenceEngine;
import ai.parallax.runtime.engine.RequestHandle;

/**
 * A model the API serves: its public id, the engine running it, its tokenizer and chat formatting.
 *
 * @param engine   the engine whose limits and statistics the API reports (the first one, in a cluster of several
 *                 pipelines: they share their configuration)
 * @param dispatch where each request goes: {@code engine} itself, or a router that picks one engine among several
 * @param created  seconds since the epoch when it was loaded (OpenAI's {@code created})
 */
public record ServedModel(String id, InferenceEngine engine, Dispatch dispatch, Tokenizer tokenizer,
                          ChatPromptFormatter chat, long created) {

    /** Submits one engine request, to whichever engine the server chooses. */
    @FunctionalInterface
    public interface Dispatch {
        /** As {@link InferenceEngine#submit}: the listener is called on the chosen engine's thread. */
        RequestHandle submit(GenerationRequest request, GenerationListener listener);
    }

    /** A model served by one engine. */
    public ServedModel(String id, InferenceEngine engine, Tokenizer tokenizer, ChatPromptFormatter chat,
                       long created) {
        this(id, engine, engine::submit, tokenizer, chat, created);
    }
}
