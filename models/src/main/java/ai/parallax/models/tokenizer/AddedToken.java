package ai.parallax.models.tokenizer;

/**
 * An entry of tokenizer.json's {@code added_tokens}: text that is cut out of the input before the model sees it.
 *
 * @param special skipped by {@code decode(ids, skipSpecialTokens = true)}
 * @param singleWord only matches when not touching a letter, digit or underscore on either side
 * @param lstrip the match swallows the whitespace to its left
 * @param rstrip the match swallows the whitespace to its right
 * @param normalized matched in normalized text rather than in the raw input
 */
public record AddedToken(int id, String content, boolean special, boolean singleWord, boolean lstrip, boolean rstrip,
        boolean normalized) {
}
