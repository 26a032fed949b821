package ai.parallax.server.cluster;

import ai.parallax.runtime.GenerationRequest;
import ai.parallax.runtime.GenerationResult;
import ai.parallax.runtime.engine.GenerationListener;
import ai.parallax.runtime.engine.InferenceEngine;
import ai.parallax.runtime.sampling.TokenLogprob;
import com.fasterxml.jackson.databind.JsonNode;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/** What the tests of stages in one JVM share: frames sent as the network would, expected.json ids, results. */
final class StageTestSupport {
    private StageTestSupport() {
    }

    /** The frame as the next hop gets it: encoded and decoded. */
    static StepFrame overTheWire(StepFrame frame) {
        return StepFrame.decode(ByteBuffer.wrap(frame.encode()));
    }

    static int[] ids(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    static CompletableFuture<GenerationResult> submit(InferenceEngine engine, GenerationRequest request) {
        return submit(engine, request, n -> { });
    }

    /** Submits a request; {@code onToken} hears the count of tokens generated so far, on the engine thread. */
    static CompletableFuture<GenerationResult> submit(InferenceEngine engine, GenerationRequest request,
                                                      IntConsumer onToken) {
        CompletableFuture<GenerationResult> done = new CompletableFuture<>();
        AtomicInteger count = new AtomicInteger();
        engine.submit(request, new GenerationListener() {
            @Override
            public void onToken(int tokenId, String text, TokenLogprob logprob) {
                onToken.accept(count.incrementAndGet());
            }

            @Override
            public void onComplete(GenerationResult result) {
                done.complete(result);
            }

            @Override
            public void onFailure(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        return done;
    }
}
