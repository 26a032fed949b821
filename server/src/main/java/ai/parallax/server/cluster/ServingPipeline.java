package ai.parallax.server.cluster;

import ai.parallax.runtime.GenerationRequest;
import ai.parallax.runtime.GenerationResult;
import ai.parallax.runtime.engine.GenerationListener;
import ai.parallax.runtime.engine.InferenceEngine;
import ai.parallax.runtime.engine.RequestHandle;
import ai.parallax.runtime.sampling.TokenLogprob;

import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One engine of the cluster scheduler and the pipeline it drives: the first stage of a pipeline owns its requests
 * (tokens, stop checks, streaming), so each pipeline the allocation builds gets an engine of its own, with its own
 * KV block tables, and a {@link PipelineStepRunner} that sends its steps down that pipeline.
 *
 * <p>Engines outlive allocations: when a re-allocation builds fewer pipelines, an engine whose pipeline is gone is
 * carried by a surviving pipeline (in a separate range of its KV pool) until its requests finish, so none of them is
 * lost; it takes no new requests meanwhile.
 */
final class ServingPipeline implements AutoCloseable {
    final int index;
    final PipelineStepRunner runner;
    final InferenceEngine engine;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicLong requests = new AtomicLong();
    /** The nodes of the pipeline that carries this engine now, first stage first; empty while none does. */
    private volatile List<String> nodes = List.of();
    /** Whether this engine owns a pipeline of the allocation in force (only those take new requests). */
    private volatile boolean owner;

    ServingPipeline(int index, PipelineStepRunner runner, InferenceEngine engine) {
        this.index = index;
        this.runner = runner;
        this.engine = engine;
    }

    void carriedBy(List<String> nodes, boolean owner) {
        this.nodes = List.copyOf(nodes);
        this.owner = owner;
    }

    List<String> nodes() {
        return nodes;
    }

    boolean owner() {
        return owner;
    }

    /** Requests submitted and not yet finished. */
    int inFlight() {
        return inFlight.get();
    }

    /** Requests this engine has taken since it started. */
    long requests() {
        return requests.get();
    }

    /** Submits to this engine, counting the request in flight until it ends. */
    RequestHandle submit(GenerationRequest request, GenerationListener listener) {
        inFlight.incrementAndGet();
        try {
            RequestHandle handle = engine.submit(request, new GenerationListener() {
                @Override
                public void onToken(int tokenId, String text, TokenLogprob logprob) {
                    listener.onToken(tokenId, text, logprob);
                }

                @Override
                public void onComplete(GenerationResult result) {
                    inFlight.decrementAndGet();
                    listener.onComplete(result);
                }

                @Override
                public void onFailure(Throwable error) {
                    inFlight.decrementAndGet();
                    listener.onFailure(error);
                }
            });
            requests.incrementAndGet();
            return handle;
        } catch (RuntimeException e) {
            inFlight.decrementAndGet();
            throw e;
        }
    }

    @Override
    public void close() {
        engine.close();
    }
}
