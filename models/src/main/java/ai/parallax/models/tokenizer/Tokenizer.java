package ai.parallax.models.tokenizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * A Hugging Face {@code tokenizer.json} tokenizer in pure Java, producing the same ids and text as the Rust
 * {@code tokenizers} library for BPE models: byte-level BPE (GPT-2, Llama 3, Qwen) and SentencePiece-style BPE with
 * byte fallback (Llama 2, Mistral, TinyLlama). Anything in tokenizer.json it cannot reproduce exactly is refused at
 * load time with an {@link UnsupportedTokenizerException}.
 *
 * <p>Encoding follows tokenizers' pipeline: added tokens are cut out of the raw text, each remaining piece is
 * normalized (then searched for added tokens marked {@code normalized}), pre-tokenized into words, and each word is
 * BPE-encoded; finally the post-processor adds special tokens such as BOS. {@code truncation} and {@code padding}
 * are ignored: sequence lengths are the engine's business. Instances are immutable apart from an internal word
 * cache and may be shared between threads.
 */
public final class Tokenizer {
    private final BpeModel model;
    private final Map<Integer, AddedToken> addedById;
    private final Map<String, Integer> addedByContent;
    private final AddedTokenSplitter rawSplitter;
    private final AddedTokenSplitter normalizedSplitter;
    private final TextNormalizer normalizer;
    private final PreTokenizer preTokenizer;
    private final PostProcessor postProcessor;
    private final TokenDecoder decoder;
    private final int vocabularySize;
    private final int bosTokenId;
    private final int eosTokenId;

    Tokenizer(BpeModel model, List<AddedToken> addedTokens, TextNormalizer normalizer, PreTokenizer preTokenizer,
            PostProcessor postProcessor, TokenDecoder decoder, String bosToken, String eosToken) {
        this.model = model;
        this.normalizer = normalizer;
        this.preTokenizer = preTokenizer;
        this.postProcessor = postProcessor;
        this.decoder = decoder;
        this.addedById = new HashMap<>();
        this.addedByContent = new HashMap<>();
        int size = model.vocabularySize();
        for (AddedToken t : addedTokens) {
            addedById.put(t.id(), t);
            addedByContent.put(t.content(), t.id());
            size = Math.max(size, t.id() + 1);
        }
        this.vocabularySize = size;
        this.rawSplitter = new AddedTokenSplitter(addedTokens.stream().filter(t -> !t.normalized()).toList(),
                AddedToken::content);
        this.normalizedSplitter = new AddedTokenSplitter(addedTokens.stream().filter(AddedToken::normalized).toList(),
                t -> normalizer == null ? t.content() : normalizer.normalize(t.content()));
        this.bosTokenId = idOfConfiguredToken(bosToken, "bos_token");
        this.eosTokenId = idOfConfiguredToken(eosToken, "eos_token");
    }

    /**
     * Loads {@code tokenizer.json} (and, when present beside it, {@code tokenizer_config.json} for the BOS and EOS
     * token names).
     *
     * @param modelOrTokenizerFile a model directory containing tokenizer.json, or the tokenizer.json file itself
     * @throws java.nio.file.NoSuchFileException when there is no tokenizer.json
     * @throws UnsupportedTokenizerException when tokenizer.json asks for something this tokenizer cannot reproduce
     */
    public static Tokenizer load(Path modelOrTokenizerFile) throws IOException {
        return TokenizerJsonReader.read(modelOrTokenizerFile);
    }

    /** The ids for {@code text}; {@code addSpecialTokens} runs the post-processor (for example to prepend BOS). */
    public int[] encode(String text, boolean addSpecialTokens) {
        IntList ids = new IntList(Math.max(16, text.length() / 3));
        List<AddedTokenSplitter.Piece> pieces = new ArrayList<>();
        rawSplitter.split(text, pieces);
        List<AddedTokenSplitter.Piece> normalizedPieces = new ArrayList<>();
        List<String> words = new ArrayList<>();
        PreTokenizer.Sink wordSink = (word, atStart) -> words.add(word);
        for (AddedTokenSplitter.Piece piece : pieces) {
            if (piece.tokenId() >= 0) {
                ids.add(piece.tokenId());
                continue;
            }
            String normalized = normalizer == null ? piece.text() : normalizer.normalize(piece.text());
            if (normalized.isEmpty()) {
                continue;
            }
            normalizedPieces.clear();
            normalizedSplitter.split(normalized, normalizedPieces);
            for (AddedTokenSplitter.Piece inner : normalizedPieces) {
                if (inner.tokenId() >= 0) {
                    ids.add(inner.tokenId());
                } else if (preTokenizer == null) {
                    model.tokenize(inner.text(), ids);
                } else {
                    // Metaspace's prepend_scheme "first" needs to know whether a piece begins the input.
                    boolean atStart = piece.start() == 0 && inner.start() == 0;
                    words.clear();
                    preTokenizer.split(inner.text(), atStart, wordSink);
                    for (String word : words) {
                        model.tokenize(word, ids);
                    }
                }
            }
        }
        int[] result = ids.toArray();
        return addSpecialTokens && postProcessor != null ? postProcessor.process(result) : result;
    }

    /**
     * The text for {@code ids}, through the tokenizer's decoder.
     *
     * @param skipSpecialTokens leave out added tokens marked special (BOS, EOS, chat markers)
     * @throws IllegalArgumentException when an id is not in the vocabulary
     */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        List<String> tokens = new ArrayList<>(ids.length);
        for (int id : ids) {
            String token = tokenForDecode(id);
            if (!(skipSpecialTokens && isSpecial(id))) {
                tokens.add(token);
            }
        }
        if (decoder == null) {
            return String.join(" ", tokens);
        }
        return String.join("", decoder.decodeChain(tokens));
    }

    /** A detokenizer for one generated sequence that keeps special tokens. */
    public StreamingDetokenizer streamingDetokenizer() {
        return streamingDetokenizer(false);
    }

    /** A detokenizer for one generated sequence. */
    public StreamingDetokenizer streamingDetokenizer(boolean skipSpecialTokens) {
        return new StreamingDetokenizer(this, decoder, skipSpecialTokens);
    }

    /** The id of a token string (an added token's content, or a vocabulary entry as spelled in tokenizer.json). */
    public OptionalInt tokenId(String token) {
        Integer id = addedByContent.get(token);
        if (id == null) {
            id = model.id(token);
        }
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /**
     * The token string of an id, as spelled in tokenizer.json (byte-level tokens use GPT-2's alphabet, e.g. "Ġthe").
     *
     * @throws IllegalArgumentException when the id is not in the vocabulary
     */
    public String token(int id) {
        return tokenForDecode(id);
    }

    /** One more than the highest id of the vocabulary and the added tokens. */
    public int vocabularySize() {
        return vocabularySize;
    }

    /** Whether the id is an added token marked special. */
    public boolean isSpecial(int id) {
        AddedToken t = addedById.get(id);
        return t != null && t.special();
    }

    /** The added tokens, by id. */
    public List<AddedToken> addedTokens() {
        return addedById.values().stream().sorted(java.util.Comparator.comparingInt(AddedToken::id)).toList();
    }

    /** The id of tokenizer_config.json's {@code bos_token}, when it names one. */
    public OptionalInt bosTokenId() {
        return bosTokenId < 0 ? OptionalInt.empty() : OptionalInt.of(bosTokenId);
    }

    /** The id of tokenizer_config.json's {@code eos_token}, when it names one. */
    public OptionalInt eosTokenId() {
        return eosTokenId < 0 ? OptionalInt.empty() : OptionalInt.of(eosTokenId);
    }

    String tokenForDecode(int id) {
        AddedToken added = addedById.get(id);
        if (added != null) {
            return added.content();
        }
        String token = model.token(id);
        if (token == null) {
            throw new IllegalArgumentException("token id " + id + " is not in the vocabulary (size "
                    + vocabularySize + ")");
        }
        return token;
    }

    private int idOfConfiguredToken(String name, String field) {
        if (name == null) {
            return -1;
        }
        OptionalInt id = tokenId(name);
        if (id.isEmpty()) {
            throw new IllegalArgumentException("tokenizer_config.json " + field + " '" + name
                    + "' is not a token of tokenizer.json");
        }
        return id.getAsInt();
    }
}
