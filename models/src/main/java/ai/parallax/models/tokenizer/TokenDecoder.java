package ai.parallax.models.tokenizer;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One step of tokenizer.json's {@code decoder}: like tokenizers' {@code Decoder::decode_chain}, it maps the list
 * of token strings to a new list; {@link Tokenizer#decode} joins the final list.
 */
sealed interface TokenDecoder {
    List<String> decodeChain(List<String> tokens);

    /** Byte-level: every token's characters back to bytes, all tokens as one lossy UTF-8 string. */
    record ByteLevel() implements TokenDecoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            ByteBuffer bytes = ByteBuffer.allocate(tokens.stream().mapToInt(t -> 4 * t.length()).sum());
            for (String t : tokens) {
                appendBytes(t, bytes);
            }
            Utf8Stream utf8 = new Utf8Stream();
            StringBuilder out = new StringBuilder(bytes.position());
            for (int i = 0; i < bytes.position(); i++) {
                utf8.accept(bytes.get(i), out);
            }
            utf8.finish(out);
            return List.of(out.toString());
        }

        /**
         * The token's bytes: one per alphabet character, or, when any character is outside the alphabet (an added
         * token such as "ĊHello" never is, but "<|中|>" would be), the token's own UTF-8.
         */
        static void appendBytes(String token, ByteBuffer out) {
            for (int i = 0; i < token.length(); i++) {
                if (ByteLevelAlphabet.byteOf(token.charAt(i)) < 0) {
                    out.put(token.getBytes(StandardCharsets.UTF_8));
                    return;
                }
            }
            for (int i = 0; i < token.length(); i++) {
                out.put((byte) ByteLevelAlphabet.byteOf(token.charAt(i)));
            }
        }
    }

    /** Replaces a literal or a regex in every token. */
    record Replace(String literal, Pattern regex, String content) implements TokenDecoder {
        String apply(String token) {
            return literal != null ? token.replace(literal, content)
                    : regex.matcher(token).replaceAll(Matcher.quoteReplacement(content));
        }

        @Override
        public List<String> decodeChain(List<String> tokens) {
            return tokens.stream().map(this::apply).toList();
        }
    }

    /**
     * Turns runs of {@code <0xNN>} tokens into their UTF-8 text; a run that is not valid UTF-8 becomes one U+FFFD
     * per byte, as tokenizers does.
     */
    record ByteFallback() implements TokenDecoder {
        /** The byte a {@code <0xNN>} token stands for, or -1 for any other token. */
        static int byteOf(String token) {
            if (token.length() != 6 || !token.startsWith("<0x") || token.charAt(5) != '>') {
                return -1;
            }
            int hi = Character.digit(token.charAt(3), 16);
            int lo = Character.digit(token.charAt(4), 16);
            return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
        }

        /** The decoded run, or null when the bytes are not valid UTF-8. */
        static String decodeRun(byte[] bytes, int length) {
            try {
                return StandardCharsets.UTF_8.newDecoder()
                        .decode(ByteBuffer.wrap(bytes, 0, length)).toString();
            } catch (java.nio.charset.CharacterCodingException e) {
                return null;
            }
        }

        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            byte[] run = new byte[tokens.size()];
            int runLength = 0;
            for (String t : tokens) {
                int b = byteOf(t);
                if (b >= 0) {
                    run[runLength++] = (byte) b;
                    continue;
                }
                runLength = flush(run, runLength, out);
                out.add(t);
            }
            flush(run, runLength, out);
            return out;
        }

        static int flush(byte[] run, int runLength, List<String> out) {
            if (runLength > 0) {
                String text = decodeRun(run, runLength);
                if (text != null) {
                    out.add(text);
                } else {
                    for (int i = 0; i < runLength; i++) {
                        out.add("\uFFFD");
                    }
                }
            }
            return 0;
        }
    }

    /** Joins all tokens into one string. */
    record Fuse() implements TokenDecoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            return List.of(String.join("", tokens));
        }
    }

    /** Removes up to {@code start} leading and {@code stop} trailing {@code content} characters of every token. */
    record Strip(int content, int start, int stop) implements TokenDecoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            return tokens.stream().map(this::strip).toList();
        }

        String strip(String token) {
            int[] cps = token.codePoints().toArray();
            int from = 0;
            while (from < start && from < cps.length && cps[from] == content) {
                from++;
            }
            int to = cps.length;
            while (cps.length - to < stop && to > from && cps[to - 1] == content) {
                to--;
            }
            return new String(cps, from, to - from);
        }
    }

    /**
     * SentencePiece's metaspace: the replacement character becomes a space, except in the first token when a prefix
     * space was prepended, where tokenizers drops it.
     */
    record Metaspace(int replacement, boolean prependedSpace) implements TokenDecoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            for (int i = 0; i < tokens.size(); i++) {
                out.add(apply(tokens.get(i), i == 0));
            }
            return out;
        }

        String apply(String token, boolean first) {
            StringBuilder sb = new StringBuilder(token.length());
            token.codePoints().forEach(cp -> {
                if (cp != replacement) {
                    sb.appendCodePoint(cp);
                } else if (!(first && prependedSpace)) {
                    sb.append(' ');
                }
            });
            return sb.toString();
        }
    }

    record Sequence(List<TokenDecoder> decoders) implements TokenDecoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            for (TokenDecoder d : decoders) {
                tokens = d.decodeChain(tokens);
            }
            return tokens;
        }
    }
}
