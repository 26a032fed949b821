/**
 * Hugging Face {@code tokenizer.json} tokenizers in pure Java, matching the Rust {@code tokenizers} library id for
 * id and character for character.
 *
 * <p>{@link ai.parallax.models.tokenizer.Tokenizer#load} reads a model directory; {@code encode}/{@code decode}
 * convert between text and ids; {@link ai.parallax.models.tokenizer.StreamingDetokenizer} turns generated ids into
 * text as they arrive. Supported: the BPE model (byte-level as in GPT-2, Llama 3 and Qwen, or SentencePiece-style
 * with byte fallback as in Llama 2 and Mistral), added and special tokens with all their matching options, the
 * NFC/NFD/NFKC/NFKD, Lowercase, Strip, Prepend, Replace and Sequence normalizers, the Split, ByteLevel, Metaspace and
 * Sequence pre-tokenizers, the TemplateProcessing, Bert, Roberta, ByteLevel and Sequence post-processors, and the
 * ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace and Sequence decoders. Anything else is refused at load
 * time with an {@link ai.parallax.models.tokenizer.UnsupportedTokenizerException} naming it.
 */
package ai.parallax.models.tokenizer;
