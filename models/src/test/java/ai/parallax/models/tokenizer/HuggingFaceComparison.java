package ai.parallax.models.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Compares our tokenizer with the Rust Hugging Face tokenizers (through DJL) and describes every difference. */
final class HuggingFaceComparison {
    private HuggingFaceComparison() {
    }

    /**
     * Encodes every text with both (special tokens on for even indices), then decodes the reference ids with both,
     * with and without special tokens.
     */
    static List<String> mismatches(Tokenizer ours, HuggingFaceTokenizer reference, List<String> texts) {
        List<String> failures = new ArrayList<>();
        for (int n = 0; n < texts.size(); n++) {
            String s = texts.get(n);
            boolean special = n % 2 == 0;
            int[] expected = Arrays.stream(reference.encode(s, special, false).getIds()).mapToInt(Math::toIntExact)
                    .toArray();
            int[] actual = ours.encode(s, special);
            if (!Arrays.equals(expected, actual)) {
                failures.add("encode(" + ReferenceModels.escape(s) + ", addSpecialTokens=" + special + ")\n"
                        + "  HF:   " + Arrays.toString(expected) + "\n  ours: " + Arrays.toString(actual)
                        + "\n  first difference at index " + Arrays.mismatch(expected, actual));
                continue;
            }
            for (boolean skip : new boolean[] {false, true}) {
                failures.addAll(decodeMismatch(ours, reference, expected, skip, " of " + ReferenceModels.escape(s)));
            }
        }
        return failures;
    }

    static List<String> decodeMismatch(Tokenizer ours, HuggingFaceTokenizer reference, int[] ids, boolean skip,
            String context) {
        String hf = reference.decode(Arrays.stream(ids).asLongStream().toArray(), skip);
        String mine = ours.decode(ids, skip);
        return hf.equals(mine) ? List.of() : List.of("decode(" + Arrays.toString(ids) + ", skipSpecialTokens=" + skip
                + ")" + context + "\n  HF:   " + ReferenceModels.escape(hf) + "\n  ours: " + ReferenceModels.escape(mine));
    }

    static String describe(String what, List<String> failures) {
        return what + ": " + failures.size() + " mismatches, the first ones:\n"
                + String.join("\n", failures.subList(0, Math.min(8, failures.size())));
    }
}
