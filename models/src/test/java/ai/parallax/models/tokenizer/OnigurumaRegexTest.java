package ai.parallax.models.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The translated patterns keep Oniguruma's Unicode meaning. (The end-to-end proof is the comparison with Hugging
 * Face tokenizers; these pin down the individual differences between the dialects.)
 */
class OnigurumaRegexTest {

    @Test
    void whitespaceIsUnicodeWhiteSpace() {
        Pattern s = OnigurumaRegex.compile("^\\s+$");
        for (String space : new String[] {" ", "\t", "\n", "\r", "\u000B", "\f", "\u0085", "\u00A0", "\u1680", "\u2003",
            "\u2028", "\u2029", "\u202F", "\u205F", "\u3000"}) {
            assertThat(s.matcher(space).matches()).as(ReferenceModels.escape(space)).isTrue();
        }
        // Not White_Space, although some other dialects call them spaces.
        for (String other : new String[] {"\u200B", "\u180E", "\u001C", "\uFEFF"}) {
            assertThat(s.matcher(other).matches()).as(ReferenceModels.escape(other)).isFalse();
        }
        assertThat(OnigurumaRegex.compile("^[^\\s]$").matcher("\u3000").matches()).isFalse();
        assertThat(OnigurumaRegex.compile("^\\S$").matcher("\u00A0").matches()).isFalse();
    }

    @Test
    void caseInsensitiveGroupsFoldOverUnicodeAndStayLocal() {
        Pattern p = OnigurumaRegex.compile("(?i:'s|'ll)x");
        assertThat(p.matcher("'Sx").matches()).isTrue();
        assertThat(p.matcher("'LLx").matches()).isTrue();
        assertThat(p.matcher("'ſx").matches()).as("long s folds to s").isTrue();
        assertThat(p.matcher("'sX").matches()).as("the flag ends with its group").isFalse();
    }

    @Test
    void letterAndNumberCategoriesCoverScriptsButNotEmojiOrMarks() {
        Pattern letters = OnigurumaRegex.compile("^\\p{L}+$");
        Pattern numbers = OnigurumaRegex.compile("^\\p{N}+$");
        for (String word : new String[] {"abcÅß", "中文", "日本語ひらがなカタカナ", "한국어", "Ελληνικά", "Кириллица", "عربى",
            "हिन्द", "ไทย", "𝒜𝔅"}) {
            // Devanagari and Thai vowel signs are marks (Mc/Mn), so only their letters count.
            String lettersOnly = word.codePoints().filter(Character::isLetter)
                    .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString();
            assertThat(letters.matcher(lettersOnly).matches()).as(word).isTrue();
        }
        assertThat(letters.matcher("e\u0301").matches()).as("combining acute is a mark, not a letter").isFalse();
        assertThat(numbers.matcher("0123٣४½Ⅻ①").matches()).as("Nd, No and Nl").isTrue();
        for (String emoji : new String[] {"😀", "👍🏽", "🇺🇸", "❤", "\u200D"}) {
            assertThat(letters.matcher(emoji).find() || numbers.matcher(emoji).find()).as(emoji).isFalse();
        }
    }

    @Test
    void scriptPropertiesAndShorthandsTranslate() {
        assertThat(OnigurumaRegex.compile("^\\p{Han}+$").matcher("漢字").matches()).isTrue();
        assertThat(OnigurumaRegex.compile("^\\p{^L}$").matcher("1").matches()).isTrue();
        assertThat(OnigurumaRegex.compile("^\\d+$").matcher("٣४").matches()).isTrue();
        assertThat(OnigurumaRegex.compile("^\\h+$").matcher("0fA").matches()).as("\\h is a hex digit").isTrue();
        assertThat(OnigurumaRegex.compile("^\\w+$").matcher("né_1中").matches()).isTrue();
    }

    @Test
    void constructsWithoutAFaithfulTranslationAreRefused() {
        assertThatThrownBy(() -> OnigurumaRegex.compile("[[:alpha:]]+"))
                .isInstanceOf(UnsupportedTokenizerException.class).hasMessageContaining("POSIX bracket");
        assertThatThrownBy(() -> OnigurumaRegex.compile("\\bword\\b"))
                .isInstanceOf(UnsupportedTokenizerException.class).hasMessageContaining("word boundaries");
        assertThatThrownBy(() -> OnigurumaRegex.compile("\\p{NoSuchProperty}"))
                .isInstanceOf(UnsupportedTokenizerException.class).hasMessageContaining("NoSuchProperty");
    }
}
