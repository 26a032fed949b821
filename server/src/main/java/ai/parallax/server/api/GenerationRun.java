package ai.parallax.server.api;

import ai.parallax.runtime.GenerationRequest;
import ai.parallax.runtime.GenerationResult;
import ai.parallax.runtime.engine.GenerationListener;
import ai.parallax.runtime.engine.RequestHandle;
import ai.parallax.runtime.engine.RequestRejectedException;
import ai.parallax.runtime.sampling.TokenLogprob;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The engine requests behind one API call (one per choice, {@code n} of them) and the queue their events arrive on.
 * The engine thread only enqueues; the connection's thread takes events and writes them, so a slow client never
 * stalls the batch.
 */
final class GenerationRun implements AutoCloseable {

    sealed interface Event permits Token, Done, Failed {
        int choice();
    }

    record Token(int choice, int tokenId, String text, TokenLogprob logprob, long nanos) implements Event {
    }

    record Done(int choice, GenerationResult result) implements Event {
    }

    record Failed(int choice, Throwable error) implements Event {
    }

    private final LinkedBlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private final List<RequestHandle> handles = new ArrayList<>();
    private int open;

    /**
     * Submits every choice; if one is refused, the ones already submitted are cancelled and the refusal is thrown.
     */
    GenerationRun(ServedModel.Dispatch engine, List<GenerationRequest> choices) {
        try {
            for (int i = 0; i < choices.size(); i++) {
                handles.add(engine.submit(choices.get(i), listener(i)));
                open++;
            }
        } catch (RequestRejectedException e) {
            cancel();
            throw e;
        }
    }

    private GenerationListener listener(int choice) {
        return new GenerationListener() {
            @Override
            public void onToken(int tokenId, String text, TokenLogprob logprob) {
                events.add(new Token(choice, tokenId, text, logprob, System.nanoTime()));
            }

            @Override
            public void onComplete(GenerationResult result) {
                events.add(new Done(choice, result));
            }

            @Override
            public void onFailure(Throwable error) {
                events.add(new Failed(choice, error));
            }
        };
    }

    /** The next event, or null once every choice has finished. */
    Event next() throws InterruptedException {
        if (open == 0) {
            return null;
        }
        Event e = events.poll(10, TimeUnit.MINUTES);
        if (e == null) {
            throw new IllegalStateException("no event from the engine in 10 minutes");
        }
        if (e instanceof Done || e instanceof Failed) {
            open--;
        }
        return e;
    }

    /** Cancels every choice still running; their KV blocks are freed at the engine's next step. */
    void cancel() {
        handles.forEach(RequestHandle::cancel);
    }

    @Override
    public void close() {
        if (open > 0) {
            cancel();
        }
    }
}
