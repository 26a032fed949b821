package ai.parallax.models.tokenizer;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns generated token ids into text one id at a time. {@link #next(int)} returns only text that is final: never
 * part of a UTF-8 character whose remaining bytes are still to come (byte-level tokens and {@code <0xNN>} byte
 * tokens can both split one), never a space that the decoder would still strip. {@link #flush()} returns what is
 * held back at the end. The concatenation of everything returned equals {@link Tokenizer#decode} of the same ids.
 *
 * <p>It runs the tokenizer's decoder steps incrementally. Runs of {@code <0xNN>} tokens are held until the next
 * other token, because tokenizers decodes a run that turns out invalid as one U+FFFD per byte, including bytes that
 * formed valid characters before the bad one. Not thread-safe: one instance per generated sequence.
 */
public final class StreamingDetokenizer {
    private final Tokenizer tokenizer;
    private final boolean skipSpecialTokens;
    private final Stage head;
    private final StringBuilder out = new StringBuilder();
    private boolean flushed;

    StreamingDetokenizer(Tokenizer tokenizer, TokenDecoder decoder, boolean skipSpecialTokens) {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
        this.head = decoder == null ? new SpaceJoin(out) : build(flatten(decoder), 0, false);
    }

    /** Feeds one id; returns the text it completes, possibly empty. */
    public String next(int id) {
        if (flushed) {
            throw new IllegalStateException("next() after flush(): use a new StreamingDetokenizer per sequence");
        }
        String token = tokenizer.tokenForDecode(id);
        if (skipSpecialTokens && tokenizer.isSpecial(id)) {
            return "";
        }
        head.push(token);
        return take();
    }

    /** Ends the sequence and returns any text still held back; the detokenizer must not be used afterwards. */
    public String flush() {
        if (flushed) {
            return "";
        }
        flushed = true;
        head.finish();
        return take();
    }

    private String take() {
        String s = out.toString();
        out.setLength(0);
        return s;
    }

    private static List<TokenDecoder> flatten(TokenDecoder d) {
        List<TokenDecoder> steps = new ArrayList<>();
        if (d instanceof TokenDecoder.Sequence(List<TokenDecoder> decoders)) {
            decoders.forEach(inner -> steps.addAll(flatten(inner)));
        } else {
            steps.add(d);
        }
        return steps;
    }

    /**
     * @param fused whether the items reaching step {@code i} are fragments of one joined string rather than tokens
     */
    private Stage build(List<TokenDecoder> steps, int i, boolean fused) {
        if (i == steps.size()) {
            return new Sink(out);
        }
        TokenDecoder step = steps.get(i);
        return switch (step) {
            case TokenDecoder.Fuse f -> build(steps, i + 1, true);
            case TokenDecoder.ByteLevel b when !fused -> new ByteLevelStage(build(steps, i + 1, true));
            case TokenDecoder.ByteFallback b when !fused -> new ByteFallbackStage(build(steps, i + 1, false));
            case TokenDecoder.Metaspace m when !fused -> new MetaspaceStage(m, build(steps, i + 1, false));
            case TokenDecoder.Replace r when !fused || (r.literal() != null
                    && r.literal().codePointCount(0, r.literal().length()) == 1) ->
                    new ReplaceStage(r, build(steps, i + 1, fused));
            case TokenDecoder.Strip s when !fused -> new TokenStripStage(s, build(steps, i + 1, false));
            case TokenDecoder.Strip s -> new FusedStripStage(s, build(steps, i + 1, true));
            default -> throw new UnsupportedTokenizerException("streaming decode does not support decoder step "
                    + step + (fused ? " after the tokens were fused" : ""));
        };
    }

    private interface Stage {
        void push(String item);

        void finish();
    }

    private record Sink(StringBuilder out) implements Stage {
        @Override
        public void push(String item) {
            out.append(item);
        }

        @Override
        public void finish() {
        }
    }

    /** Without a decoder tokenizers joins the tokens with single spaces. */
    private static final class SpaceJoin implements Stage {
        private final StringBuilder out;
        private boolean first = true;

        SpaceJoin(StringBuilder out) {
            this.out = out;
        }

        @Override
        public void push(String item) {
            if (!first) {
                out.append(' ');
            }
            first = false;
            out.append(item);
        }

        @Override
        public void finish() {
        }
    }

    private static final class ByteLevelStage implements Stage {
        private final Stage next;
        private final Utf8Stream utf8 = new Utf8Stream();
        private final StringBuilder text = new StringBuilder();
        private ByteBuffer bytes = ByteBuffer.allocate(64);

        ByteLevelStage(Stage next) {
            this.next = next;
        }

        @Override
        public void push(String token) {
            if (bytes.capacity() < 4 * token.length()) {
                bytes = ByteBuffer.allocate(4 * token.length());
            }
            bytes.clear();
            TokenDecoder.ByteLevel.appendBytes(token, bytes);
            for (int i = 0; i < bytes.position(); i++) {
                utf8.accept(bytes.get(i), text);
            }
            emit();
        }

        @Override
        public void finish() {
            utf8.finish(text);
            emit();
            next.finish();
        }

        private void emit() {
            if (!text.isEmpty()) {
                next.push(text.toString());
                text.setLength(0);
            }
        }
    }

    private static final class ByteFallbackStage implements Stage {
        private final Stage next;
        private byte[] run = new byte[16];
        private int runLength;
        private final List<String> decoded = new ArrayList<>();

        ByteFallbackStage(Stage next) {
            this.next = next;
        }

        @Override
        public void push(String token) {
            int b = TokenDecoder.ByteFallback.byteOf(token);
            if (b >= 0) {
                if (runLength == run.length) {
                    run = java.util.Arrays.copyOf(run, 2 * runLength);
                }
                run[runLength++] = (byte) b;
                return;
            }
            flushRun();
            next.push(token);
        }

        @Override
        public void finish() {
            flushRun();
            next.finish();
        }

        private void flushRun() {
            runLength = TokenDecoder.ByteFallback.flush(run, runLength, decoded);
            decoded.forEach(next::push);
            decoded.clear();
        }
    }

    private static final class MetaspaceStage implements Stage {
        private final TokenDecoder.Metaspace step;
        private final Stage next;
        private boolean first = true;

        MetaspaceStage(TokenDecoder.Metaspace step, Stage next) {
            this.step = step;
            this.next = next;
        }

        @Override
        public void push(String token) {
            next.push(step.apply(token, first));
            first = false;
        }

        @Override
        public void finish() {
            next.finish();
        }
    }

    private record ReplaceStage(TokenDecoder.Replace step, Stage next) implements Stage {
        @Override
        public void push(String item) {
            next.push(step.apply(item));
        }

        @Override
        public void finish() {
            next.finish();
        }
    }

    private record TokenStripStage(TokenDecoder.Strip step, Stage next) implements Stage {
        @Override
        public void push(String item) {
            next.push(step.strip(item));
        }

        @Override
        public void finish() {
            next.finish();
        }
    }

    /**
     * Strip applied to the joined string: leading {@code content} characters are dropped while the text so far
     * consists only of them; trailing ones are held until something else follows or the sequence ends.
     */
    private static final class FusedStripStage implements Stage {
        private final TokenDecoder.Strip step;
        private final Stage next;
        private int leadingStripped;
        private boolean started;
        private int heldTrailing;

        FusedStripStage(TokenDecoder.Strip step, Stage next) {
            this.step = step;
            this.next = next;
        }

        @Override
        public void push(String item) {
            StringBuilder emit = new StringBuilder(item.length() + heldTrailing);
            for (int i = 0; i < item.length(); ) {
                int cp = item.codePointAt(i);
                i += Character.charCount(cp);
                if (!started && cp == step.content() && leadingStripped < step.start()) {
                    leadingStripped++;
                    continue;
                }
                started = true;
                if (cp == step.content() && step.stop() > 0) {
                    heldTrailing++;
                    continue;
                }
                for (; heldTrailing > 0; heldTrailing--) {
                    emit.appendCodePoint(step.content());
                }
                emit.appendCodePoint(cp);
            }
            if (!emit.isEmpty()) {
                next.push(emit.toString());
            }
        }

        @Override
        public void finish() {
            StringBuilder emit = new StringBuilder();
            for (int i = step.stop(); i < heldTrailing; i++) {
                emit.appendCodePoint(step.content());
            }
            heldTrailing = 0;
            if (!emit.isEmpty()) {
                next.push(emit.toString());
            }
            next.finish();
        }
    }
}
