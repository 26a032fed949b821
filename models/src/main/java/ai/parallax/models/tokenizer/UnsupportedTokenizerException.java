package ai.parallax.models.tokenizer;

/**
 * A tokenizer.json asks for a model, normalizer, pre-tokenizer, post-processor, decoder or option that this
 * implementation does not reproduce. Raised at load time so that nothing is ever tokenized approximately.
 */
public final class UnsupportedTokenizerException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public UnsupportedTokenizerException(String message) {
        super(message);
    }
}
