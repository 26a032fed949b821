package ai.parallax.runtime;

import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.KvCache;
import ai.parallax.models.tokenizer.StreamingDetokenizer;
import ai.parallax.models.tokenizer.Tokenizer;
import ai.parallax.runtime.GenerationResult.FinishReason;
import ai.parallax.runtime.sampling.Sampler;
import ai.parallax.runtime.sampling.TokenLogprob;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.Ops;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Runs one sequence at a time on a whole model: prefill the prompt (in chunks), then decode token by token with a
 * KV cache, sampling, stop handling and streaming detokenisation.
 */
public final class Generator {
    /** Prompt tokens per prefill step: bounds the activation memory of long prompts. */
    public static final int DEFAULT_PREFILL_CHUNK = 256;

    private final CausalLanguageModel model;
    private final Ops ops;
    private final Tokenizer tokenizer;
    private final Set<Integer> eosTokenIds;
    private final int prefillChunk;
    private final float[] logits;

    /**
     * @param tokenizer   decodes the output; null generates ids only (empty text)
     * @param eosTokenIds the model's end-of-sequence ids
     */
    public Generator(CausalLanguageModel model, Ops ops, Tokenizer tokenizer, Set<Integer> eosTokenIds,
                     int prefillChunk) {
        if (!model.layers().isWholeModel()) {
            throw new IllegalArgumentException("Generator needs the whole model; got layers " + model.layers());
        }
        this.model = model;
        this.ops = ops;
        this.tokenizer = tokenizer;
        this.eosTokenIds = Set.copyOf(eosTokenIds);
        this.prefillChunk = prefillChunk;
        this.logits = new float[model.config().vocabSize()];
    }

    public Generator(CausalLanguageModel model, Ops ops, Tokenizer tokenizer, Set<Integer> eosTokenIds) {
        this(model, ops, tokenizer, eosTokenIds, DEFAULT_PREFILL_CHUNK);
    }

    /** Generates, calling {@code listener} with each piece of text as soon as it is final. */
    public GenerationResult generate(GenerationRequest request, TextListener listener) {
        int[] prompt = request.promptIds();
        int vocab = model.config().vocabSize();
        for (int id : prompt) {
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException("prompt token id " + id + " is outside the vocabulary [0, "
                        + vocab + ")");
            }
        }
        int room = model.maxPositions() - prompt.length;
        if (room < 0) {
            throw new IllegalArgumentException("the prompt has " + prompt.length + " tokens but the model's context is "
                    + model.maxPositions());
        }
        int maxTokens = Math.min(request.maxTokens(), room);
        Set<Integer> stopIds = new HashSet<>(request.stopTokenIds());
        if (!request.ignoreEos()) {
            stopIds.addAll(eosTokenIds);
        }
        Sampler sampler = new Sampler(request.sampling(), vocab);
        sampler.acceptPrompt(prompt, prompt.length);
        StopStringMatcher stops = new StopStringMatcher(request.stopStrings());
        StreamingDetokenizer detokenizer = tokenizer == null ? null : tokenizer.streamingDetokenizer();
        StringBuilder text = new StringBuilder();
        List<TokenLogprob> logprobs = request.logprobs() >= 0 ? new ArrayList<>() : null;
        int[] generated = new int[maxTokens];
        int count = 0;
        FinishReason finish = FinishReason.LENGTH;

        try (KvCache cache = model.newKvCache(Math.max(1, prompt.length + maxTokens))) {
            long start = System.nanoTime();
            if (maxTokens == 0) {
                return new GenerationResult(prompt, new int[0], "", FinishReason.LENGTH, logprobs,
                        new GenerationResult.Timings(prompt.length, 0, 0, 0));
            }
            Tensor last = prefill(prompt, cache);
            long prefillEnd = System.nanoTime();
            int position = prompt.length;
            int[] step = new int[1];
            while (true) {
                ops.copyToHost(last, logits, 0);
                int token = sampler.sample(logits, 0);
                if (logprobs != null) {
                    logprobs.add(Sampler.logprobs(logits, 0, vocab, token, request.logprobs()));
                }
                if (stopIds.contains(token)) {
                    if (logprobs != null) {
                        logprobs.removeLast();
                    }
                    finish = FinishReason.STOP;
                    break;
                }
                sampler.accept(token);
                generated[count++] = token;
                if (detokenizer != null) {
                    String piece = stops.append(detokenizer.next(token));
                    emit(piece, text, listener);
                    if (stops.stopped()) {
                        finish = FinishReason.STOP;
                        break;
                    }
                }
                if (count == maxTokens) {
                    break;
                }
                step[0] = token;
                last = model.forward(step, 1, position++, cache, false);
            }
            if (detokenizer != null && !stops.stopped()) {
                String tail = stops.append(detokenizer.flush());
                emit(tail + stops.flush(), text, listener);
                if (stops.stopped()) {
                    finish = FinishReason.STOP;
                }
            }
            long end = System.nanoTime();
            int[] ids = java.util.Arrays.copyOf(generated, count);
            return new GenerationResult(prompt, ids, text.toString(), finish,
                    logprobs == null ? null : List.copyOf(logprobs),
                    new GenerationResult.Timings(prompt.length, prefillEnd - start, count, end - prefillEnd));
        }
    }

    /** Runs the prompt through the model in chunks; returns the logits of its last token. */
    private Tensor prefill(int[] prompt, KvCache cache) {
        Tensor last = null;
        int[] chunk = new int[Math.min(prefillChunk, prompt.length)];
        for (int pos = 0; pos < prompt.length; pos += prefillChunk) {
            int n = Math.min(prefillChunk, prompt.length - pos);
            System.arraycopy(prompt, pos, chunk, 0, n);
            last = model.forward(chunk, n, pos, cache, false);
        }
        return last;
    }

    private static void emit(String piece, StringBuilder text, TextListener listener) {
        if (!piece.isEmpty()) {
            text.append(piece);
            listener.onText(piece);
        }
    }

    /** Receives generated text as it becomes final. */
    @FunctionalInterface
    public interface TextListener {
        void onText(String piece);

        TextListener NONE = piece -> { };
    }
}
